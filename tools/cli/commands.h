// The `shmrpc` command-line tool: its commands and their exit statuses.
// tools/shmrpc_main.cc is main(); docs/operations.md is the manual.
//
//   shmrpc list                      this user's endpoints on this host
//   shmrpc stats TARGET|ENDPOINT     a server's statistics (table or
//                                    Prometheus text), once or refreshing
//   shmrpc health TARGET [SERVICE]   grpc.health.v1.Health/Check over
//                                    shared memory
//   shmrpc why TARGET                which path a channel to TARGET takes,
//                                    and why
#ifndef SHMRPC_TOOLS_CLI_COMMANDS_H_
#define SHMRPC_TOOLS_CLI_COMMANDS_H_

namespace shmrpc::cli {

// Exit statuses of every command.
inline constexpr int kExitOk = 0;
// The command failed: one line on stderr says why. `why`: the channel
// would use gRPC.
inline constexpr int kExitFailed = 1;
// The command line is wrong (the usage goes to stderr).
inline constexpr int kExitUsage = 2;
// `health`: the server answered, and not SERVING (NOT_SERVING,
// SERVICE_UNKNOWN, UNKNOWN).
inline constexpr int kExitNotServing = 3;

// Runs the command in `argv` (argv[0] is the program), writing results to
// stdout and errors to stderr; returns the exit status. Call once, from
// main, before any other gRPC use in the process.
int Main(int argc, char** argv);

}  // namespace shmrpc::cli

#endif  // SHMRPC_TOOLS_CLI_COMMANDS_H_
