// shmrpc: the command-line tool for shmrpc servers on this host (list,
// stats, health, why). See tools/cli/commands.h and docs/operations.md.
//
//   bazel run //tools:shmrpc -- list
//   bazel run //tools:shmrpc -- stats localhost:50051 --format=prometheus
#include "tools/cli/commands.h"

int main(int argc, char** argv) { return shmrpc::cli::Main(argc, argv); }
