#include "tools/cli/commands.h"

#include <dirent.h>
#include <grpc/support/log.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "grpc/health/v1/health.shmrpc.h"
#include "shmrpc/admin/v1/admin.shmrpc.h"
#include "shmrpc/client/credentials.h"
#include "shmrpc/client/diagnose.h"
#include "shmrpc/rpc/endpoint.h"
#include "shmrpc/server/admin_service.h"
#include "shmrpc/transport/handshake.h"
#include "tools/cli/format.h"

namespace shmrpc::cli {
namespace {

using std::chrono::milliseconds;

constexpr char kUsage[] =
    R"(usage: shmrpc [--timeout=MS] [--verbose] COMMAND [ARGS]

Looks at shmrpc servers of this user on this host, over shared memory.

commands:
  list
      The shared-memory endpoints in this user's endpoint directory
      ($SHMRPC_DIR, else $XDG_RUNTIME_DIR/shmrpc, else /tmp/shmrpc-UID),
      each with its server's pid, uptime, connections and calls; stale
      sockets and servers that refuse us are listed with the reason.
  stats TARGET|ENDPOINT [--format=table|prometheus] [--watch=SECONDS]
        [--count=N] [--connections=true|false]
      A server's statistics: per method and transport, calls by status
      code, latency (p50, p99, max), bytes and messages each way; per
      connection, peer pid and uid, calls, threads, shared-memory pool
      usage; totals. TARGET is a gRPC target ("localhost:50051",
      "unix:/run/app.sock"); ENDPOINT a socket path as `list` shows it.
      --watch refreshes every SECONDS until interrupted (or N times).
  health TARGET|ENDPOINT [SERVICE]
      grpc.health.v1.Health/Check over shared memory; prints SERVING,
      NOT_SERVING, SERVICE_UNKNOWN or UNKNOWN.
  why TARGET [--method=/package.Service/Method] [--dir=DIR[,DIR...]]
      Which path a channel to TARGET would take from this environment
      (shared memory or gRPC) and exactly why, checking that the server
      serves --method; --dir names more endpoint directories to look in.

options:
  --timeout=MS   connecting and each call, at most (default 2000)
  --verbose      gRPC's and shmrpc's log lines on stderr

exit status: 0 success (health: SERVING; why: shared memory); 1 failure,
said in one line on stderr (why: gRPC); 2 usage error; 3 health: not
SERVING.
)";

// Calls that should go over shared memory never take the gRPC fallback:
// the channels' fallback target names no server (a Unix socket under a
// file, which cannot exist), so such a call fails with UNAVAILABLE instead
// of reaching some server's gRPC port.
constexpr char kNoFallbackTarget[] = "unix:/dev/null/shmrpc-no-grpc";

constexpr char kHealthCheckMethod[] = "/grpc.health.v1.Health/Check";

// Set by SIGINT and SIGTERM during `stats --watch`.
std::atomic<bool> g_interrupted{false};

extern "C" void OnInterrupt(int) { g_interrupted.store(true); }

struct Args {
  std::string command;
  std::vector<std::string> positional;
  std::map<std::string, std::string> flags;  // "--name=value", "--name"
};

// One line on stderr; the usage is for --help.
int Usage(const std::string& error) {
  std::fprintf(stderr, "shmrpc: %s (shmrpc --help shows the usage)\n",
               Printable(error).c_str());
  return kExitUsage;
}

// One line on stderr.
int Fail(const std::string& command, const std::string& what,
         const std::string& why) {
  // `why` often quotes the peer (a status message, a refusal): escaped, so
  // that it stays one line and cannot drive the terminal.
  std::fprintf(stderr, "shmrpc %s: %s: %s\n", Printable(command).c_str(),
               Printable(what).c_str(), Printable(why).c_str());
  return kExitFailed;
}

// The flags a command takes (besides the global ones).
const std::map<std::string, std::vector<std::string>>& CommandFlags() {
  static const auto* flags =
      new std::map<std::string, std::vector<std::string>>{
          {"list", {}},
          {"stats", {"format", "watch", "count", "connections"}},
          {"health", {}},
          {"why", {"method", "dir"}},
      };
  return *flags;
}

// Parses `argv`; on error returns the message for Usage.
absl::StatusOr<Args> Parse(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help" || (a == "help" && args.command.empty())) {
      args.flags["help"] = "";
      continue;
    }
    if (absl::StartsWith(a, "--")) {
      const size_t eq = a.find('=');
      const std::string name =
          a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      args.flags[name] = eq == std::string::npos ? "" : a.substr(eq + 1);
      continue;
    }
    if (args.command.empty()) {
      args.command = a;
    } else {
      args.positional.push_back(a);
    }
  }
  if (args.flags.count("help") != 0) return args;
  if (args.command.empty()) {
    return absl::InvalidArgumentError("no command given");
  }
  auto known = CommandFlags().find(args.command);
  if (known == CommandFlags().end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown command '", args.command, "'"));
  }
  for (const auto& [name, value] : args.flags) {
    if (name == "timeout" || name == "verbose") continue;
    if (std::find(known->second.begin(), known->second.end(), name) ==
        known->second.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown option --", name, " for '", args.command, "'"));
    }
  }
  return args;
}

// A flag's value or `fallback`.
std::string Flag(const Args& args, const std::string& name,
                 const std::string& fallback) {
  auto it = args.flags.find(name);
  return it == args.flags.end() ? fallback : it->second;
}

// What a command talks to: `arg` as a gRPC target, or a socket path.
struct Destination {
  std::string arg;            // as given
  std::string endpoint;       // the socket path
  ShmChannelOptions options;  // for DiagnoseTarget: the path, if given
  std::string diagnose_target;
};

bool LooksLikePath(const std::string& arg) {
  return absl::StartsWith(arg, "/") || absl::StartsWith(arg, "./") ||
         absl::StartsWith(arg, "../");
}

// Why a connection to `server` (asking for `method`) did not work, as one
// line; empty if it works now. The diagnosis goes to `*diagnosis` if not
// null.
std::string Explain(const Destination& server, milliseconds timeout,
                    const std::string& method,
                    PathDiagnosis* diagnosis = nullptr) {
  ShmChannelOptions options = server.options;
  options.connect_timeout = timeout;
  DiagnoseOptions diagnose;
  diagnose.method = method;
  PathDiagnosis d = DiagnoseTarget(server.diagnose_target, options, diagnose);
  if (diagnosis != nullptr) *diagnosis = d;
  if (d.reason == PathReason::kMethodNotServed) {
    const std::string service = method.substr(1, method.rfind('/') - 1);
    return absl::StrCat("the server at ", d.endpoint, " (pid ", d.server_pid,
                        ") does not serve ", service,
                        " over shared memory (UNIMPLEMENTED)");
  }
  if (d.reason == PathReason::kSharedMemory) {
    return "";  // it works now
  }
  return d.message;
}

// Resolves `arg` to an endpoint; on failure sets *why.
bool Resolve(const std::string& arg, Destination* server, std::string* why) {
  server->arg = arg;
  if (LooksLikePath(arg)) {
    server->endpoint = arg;
    server->options.endpoint_path = arg;
    server->diagnose_target = arg;
    return true;
  }
  server->diagnose_target = arg;
  absl::StatusOr<std::string> endpoint = rpc::ClientEndpoint(arg);
  if (!endpoint.ok()) {
    *why = DiagnoseTarget(arg).message;
    return false;
  }
  server->endpoint = *endpoint;
  return true;
}

// A channel to `server` over shared memory only, connected; null (and *why
// set, and *diagnosis if not null) if it cannot be.
std::shared_ptr<grpc::Channel> Connect(const Destination& server,
                                       milliseconds timeout,
                                       const std::string& method,
                                       std::string* why,
                                       PathDiagnosis* diagnosis = nullptr) {
  ShmChannelOptions options;
  options.mode = ShmMode::kRequired;
  options.endpoint_path = server.endpoint;
  options.connect_timeout = timeout;
  std::shared_ptr<grpc::Channel> channel = CreateChannel(
      kNoFallbackTarget, grpc::InsecureChannelCredentials(), options);
  if (ConnectSharedMemory(channel) == ChannelPath::kSharedMemory) {
    return channel;
  }
  *why = Explain(server, timeout, method, diagnosis);
  if (why->empty()) *why = DescribeChannelPath(channel);
  return nullptr;
}

// The server's statistics, or the reason there are none (and, if the
// reason comes from diagnosing the path, that diagnosis in `*diagnosis`).
absl::StatusOr<admin::v1::ServerStatsReply> FetchStats(
    const Destination& server, milliseconds timeout, bool connections,
    PathDiagnosis* diagnosis = nullptr) {
  std::string why;
  std::shared_ptr<grpc::Channel> channel =
      Connect(server, timeout, internal::kAdminGetStatsMethod, &why, diagnosis);
  if (channel == nullptr) return absl::UnavailableError(why);
  auto stub = admin::v1::ShmAdmin::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  admin::v1::StatsRequest request;
  request.set_include_connections(connections);
  admin::v1::ServerStatsReply reply;
  const grpc::Status status = stub->GetStats(&context, request, &reply);
  if (!status.ok()) {
    std::string explained =
        Explain(server, timeout, internal::kAdminGetStatsMethod, diagnosis);
    if (explained.empty()) {
      explained =
          absl::StrCat("GetStats failed: ", CodeName(status.error_code()), ": ",
                       status.error_message());
    }
    return absl::UnavailableError(explained);
  }
  return reply;
}

milliseconds Timeout(const Args& args, bool* ok) {
  int ms = 2000;
  const std::string v = Flag(args, "timeout", "2000");
  *ok = absl::SimpleAtoi(v, &ms) && ms > 0;
  return milliseconds(ms);
}

// ---- list -----------------------------------------------------------------

int List(const Args& args, milliseconds timeout) {
  if (!args.positional.empty()) return Usage("list takes no arguments");
  const std::string dir = rpc::EndpointDirectoryPath();
  absl::StatusOr<std::string> checked = rpc::EndpointDirectory(false);
  if (!checked.ok()) {
    if (absl::IsNotFound(checked.status())) {
      std::printf(
          "endpoint directory %s does not exist: no shmrpc server of "
          "this user has run with this environment\n",
          dir.c_str());
      return kExitOk;
    }
    return Fail("list", dir, std::string(checked.status().message()));
  }
  std::vector<std::string> paths;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (!absl::EndsWith(name, ".sock")) continue;
      const std::string path = dir + "/" + name;
      struct stat st;
      if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
        paths.push_back(path);
      }
    }
    ::closedir(d);
  } else {
    return Fail("list", dir, "cannot read the directory");
  }
  std::sort(paths.begin(), paths.end());
  std::vector<ListedEndpoint> listed;
  for (const std::string& path : paths) {
    ListedEndpoint e;
    e.path = path;
    Destination server;
    std::string ignored;
    Resolve(path, &server, &ignored);
    PathDiagnosis d;
    d.reason = PathReason::kConnectFailed;
    absl::StatusOr<admin::v1::ServerStatsReply> stats =
        FetchStats(server, timeout, /*connections=*/false, &d);
    if (stats.ok()) {
      e.answered = true;
      e.stats = std::move(*stats);
    } else {
      // The reason in a word or two; `why` tells the whole story.
      if (d.status.ok()) d.status = stats.status();
      switch (d.reason) {
        case PathReason::kStaleEndpoint:
          e.state = "stale (nobody listens)";
          break;
        case PathReason::kHandshakeRefused: {
          absl::string_view m = d.status.message();
          absl::ConsumePrefix(&m, transport::kHandshakeRefusedPrefix);
          e.state = absl::StrCat("refused: ", m);
          break;
        }
        case PathReason::kMethodNotServed:
          e.state = "no statistics (an older shmrpc?)";
          break;
        case PathReason::kSharedMemory:  // connected, but the call failed
          e.state = absl::StrCat("error: ", stats.status().message());
          break;
        default:
          e.state =
              absl::StrCat(PathReasonName(d.reason), ": ", d.status.message());
      }
    }
    listed.push_back(std::move(e));
  }
  std::fputs(Printable(ListTable(dir, listed), true).c_str(), stdout);
  return kExitOk;
}

// ---- stats ----------------------------------------------------------------

int Stats(const Args& args, milliseconds timeout) {
  if (args.positional.size() != 1) {
    return Usage("stats takes one TARGET or ENDPOINT");
  }
  const std::string format = Flag(args, "format", "table");
  if (format != "table" && format != "prometheus") {
    return Usage("--format is table or prometheus");
  }
  double watch = 0;
  if (args.flags.count("watch") != 0 &&
      (!absl::SimpleAtod(Flag(args, "watch", ""), &watch) || !(watch > 0))) {
    return Usage("--watch takes a number of seconds > 0");
  }
  int count = watch > 0 ? 0 : 1;  // 0: until interrupted
  if (args.flags.count("count") != 0 &&
      (!absl::SimpleAtoi(Flag(args, "count", ""), &count) || count <= 0)) {
    return Usage("--count takes a number > 0");
  }
  const std::string connections_flag = Flag(args, "connections", "true");
  if (connections_flag != "true" && connections_flag != "false" &&
      !connections_flag.empty()) {
    return Usage("--connections is true or false");
  }
  const bool connections = connections_flag != "false";
  const std::string& arg = args.positional[0];
  Destination server;
  std::string why;
  if (!Resolve(arg, &server, &why)) return Fail("stats", arg, why);
  if (watch > 0) {
    ::signal(SIGINT, OnInterrupt);
    ::signal(SIGTERM, OnInterrupt);
  }
  const bool terminal = ::isatty(STDOUT_FILENO) != 0;
  for (int shown = 0; count == 0 || shown < count; ++shown) {
    if (shown > 0) {
      // Wait out the interval, looking for an interrupt now and then.
      const auto until = std::chrono::steady_clock::now() +
                         std::chrono::duration<double>(watch);
      while (!g_interrupted.load() &&
             std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(milliseconds(20));
      }
      if (g_interrupted.load()) break;
    }
    absl::StatusOr<admin::v1::ServerStatsReply> stats =
        FetchStats(server, timeout, connections);
    if (!stats.ok()) {
      return Fail("stats", arg, std::string(stats.status().message()));
    }
    // Names in it come from the server: escaped (Prometheus's own escapes
    // of label values are backslashes, which this leaves alone).
    std::string text =
        Printable(format == "table" ? StatsTable(*stats, server.endpoint)
                                    : Prometheus(*stats, server.endpoint),
                  /*keep_newlines=*/true);
    if (watch > 0) {
      if (terminal) {
        text = "\033[H\033[2J" + text;  // clear the screen
      } else if (shown > 0) {
        text = "\n" + text;
      }
    }
    std::fputs(text.c_str(), stdout);
    std::fflush(stdout);
  }
  return kExitOk;
}

// ---- health ---------------------------------------------------------------

int Health(const Args& args, milliseconds timeout) {
  if (args.positional.empty() || args.positional.size() > 2) {
    return Usage("health takes TARGET and, optionally, SERVICE");
  }
  const std::string& arg = args.positional[0];
  const std::string service =
      args.positional.size() > 1 ? args.positional[1] : "";
  Destination server;
  std::string why;
  if (!Resolve(arg, &server, &why)) return Fail("health", arg, why);
  std::shared_ptr<grpc::Channel> channel =
      Connect(server, timeout, kHealthCheckMethod, &why);
  if (channel == nullptr) return Fail("health", arg, why);
  auto stub = grpc::health::v1::ShmHealth::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = stub->Check(&context, request, &response);
  if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
    // The protocol's answer for a service the server does not know.
    std::printf("SERVICE_UNKNOWN\n");
    return kExitNotServing;
  }
  if (!status.ok()) {
    std::string explained = Explain(server, timeout, kHealthCheckMethod);
    if (explained.empty()) {
      explained = absl::StrCat("Check failed: ", CodeName(status.error_code()),
                               status.error_message().empty() ? "" : ": ",
                               status.error_message());
    }
    return Fail("health", arg, explained);
  }
  const std::string name =
      grpc::health::v1::HealthCheckResponse::ServingStatus_Name(
          response.status());
  std::printf("%s\n", name.empty() ? "UNKNOWN" : Printable(name).c_str());
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING
             ? kExitOk
             : kExitNotServing;
}

// ---- why ------------------------------------------------------------------

int Why(const Args& args, milliseconds timeout) {
  if (args.positional.size() != 1) return Usage("why takes one TARGET");
  const std::string& target = args.positional[0];
  ShmChannelOptions options;  // as an application's channel, SHMRPC_MODE too
  options.connect_timeout = timeout;
  DiagnoseOptions diagnose;
  diagnose.method = Flag(args, "method", "");
  if (!diagnose.method.empty() &&
      (diagnose.method[0] != '/' ||
       diagnose.method.find('/', 1) == std::string::npos)) {
    return Usage("--method is /package.Service/Method");
  }
  for (absl::string_view dir :
       absl::StrSplit(Flag(args, "dir", ""), ',', absl::SkipEmpty())) {
    diagnose.other_directories.emplace_back(dir);
  }
  const PathDiagnosis d = DiagnoseTarget(target, options, diagnose);
  std::fputs(Printable(WhyReport(target, d), true).c_str(), stdout);
  return d.path == ChannelPath::kSharedMemory ? kExitOk : kExitFailed;
}

// Drops gRPC's (and so shmrpc's) log lines: the tool says what matters.
void Quiet(gpr_log_func_args*) {}

}  // namespace

int Main(int argc, char** argv) {
  absl::StatusOr<Args> parsed = Parse(argc, argv);
  if (!parsed.ok()) return Usage(std::string(parsed.status().message()));
  const Args& args = *parsed;
  if (args.flags.count("help") != 0) {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  bool timeout_ok = false;
  const milliseconds timeout = Timeout(args, &timeout_ok);
  if (!timeout_ok) return Usage("--timeout takes milliseconds > 0");
  if (args.flags.count("verbose") == 0) gpr_set_log_function(Quiet);
  if (args.command == "why") return Why(args, timeout);
  // The other commands always want shared memory, whatever the
  // environment asks of applications' channels.
  ::unsetenv(kShmModeEnvVar);
  if (args.command == "list") return List(args, timeout);
  if (args.command == "stats") return Stats(args, timeout);
  return Health(args, timeout);
}

}  // namespace shmrpc::cli
