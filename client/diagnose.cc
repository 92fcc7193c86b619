#include "shmrpc/client/diagnose.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "shmrpc/client/internal/shm_channel.h"
#include "shmrpc/rpc/endpoint.h"
#include "shmrpc/transport/handshake.h"
#include "shmrpc/transport/unix_socket.h"

namespace shmrpc {
namespace {

// At most this many of a server's methods are named in a message.
constexpr size_t kMethodsNamed = 8;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

// Where this process's endpoint directory comes from.
std::string DirectorySource() {
  if (!Env("SHMRPC_DIR").empty()) return "from SHMRPC_DIR";
  if (!Env("XDG_RUNTIME_DIR").empty()) {
    return "from XDG_RUNTIME_DIR; SHMRPC_DIR is unset";
  }
  return "the default: SHMRPC_DIR and XDG_RUNTIME_DIR are unset";
}

std::string Dirname(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string Basename(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool IsSocket(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

// Whether a server listens at the socket `path`: connects without ever
// blocking (a hung server's full backlog must not hang the diagnosis), and
// hangs up at once (the server drops a client that says nothing).
enum class Probe { kListening, kBusy, kNobody, kError };
// `error`, if not null, gets connect's errno for kError.
Probe ProbeSocket(const std::string& path, int* error = nullptr) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    if (error != nullptr) *error = ENAMETOOLONG;
    return Probe::kError;
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  const int fd =
      ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    if (error != nullptr) *error = errno;
    return Probe::kError;
  }
  int rc;
  do {
    rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  } while (rc != 0 && errno == EINTR);
  const int err = rc == 0 ? 0 : errno;
  ::close(fd);
  if (rc == 0) return Probe::kListening;
  // Its backlog is full: somebody listens, but does not accept.
  if (err == EAGAIN || err == EINPROGRESS) return Probe::kBusy;
  // A stale socket (its server is gone), or none at all.
  if (err == ECONNREFUSED || err == ENOENT) return Probe::kNobody;
  if (error != nullptr) *error = err;
  return Probe::kError;  // e.g. no permission to the socket
}

bool Listening(const std::string& path) {
  if (!IsSocket(path)) return false;
  const Probe p = ProbeSocket(path);
  return p == Probe::kListening || p == Probe::kBusy;
}

// A socket named like `endpoint` that a server listens on, in one of the
// endpoint directories a process of this user could derive (or `extra`),
// other than endpoint's own; empty if none.
std::string FindElsewhere(const std::string& endpoint,
                          const std::vector<std::string>& extra) {
  const std::string uid = std::to_string(::geteuid());
  std::vector<std::string> dirs = extra;
  if (std::string d = Env("SHMRPC_DIR"); !d.empty()) dirs.push_back(d);
  if (std::string x = Env("XDG_RUNTIME_DIR"); !x.empty()) {
    dirs.push_back(x + "/shmrpc");
  }
  dirs.push_back("/run/user/" + uid + "/shmrpc");
  dirs.push_back("/tmp/shmrpc-" + uid);
  const std::string own = Dirname(endpoint);
  const std::string name = Basename(endpoint);
  std::vector<std::string> seen;
  for (const std::string& dir : dirs) {
    if (dir.empty() || dir == own ||
        std::find(seen.begin(), seen.end(), dir) != seen.end()) {
      continue;
    }
    seen.push_back(dir);
    const std::string candidate = dir + "/" + name;
    if (Listening(candidate)) return candidate;
  }
  return "";
}

std::string Quoted(const std::string& s) { return absl::StrCat("'", s, "'"); }

}  // namespace

const char* PathReasonName(PathReason reason) {
  switch (reason) {
    case PathReason::kSharedMemory:
      return "shared-memory";
    case PathReason::kDisabled:
      return "disabled";
    case PathReason::kBadTarget:
      return "bad-target";
    case PathReason::kNotOnThisHost:
      return "not-on-this-host";
    case PathReason::kUnsafeEndpointDirectory:
      return "unsafe-endpoint-directory";
    case PathReason::kNoEndpoint:
      return "no-endpoint";
    case PathReason::kEndpointDirDiffers:
      return "endpoint-dir-differs";
    case PathReason::kStaleEndpoint:
      return "stale-endpoint";
    case PathReason::kHandshakeRefused:
      return "handshake-refused";
    case PathReason::kConnectFailed:
      return "connect-failed";
    case PathReason::kMethodNotServed:
      return "method-not-served";
  }
  return "unknown";
}

PathDiagnosis DiagnoseTarget(const std::string& target,
                             const ShmChannelOptions& options,
                             const DiagnoseOptions& diagnose) {
  PathDiagnosis d;
  auto verdict = [&](PathReason reason, std::string message,
                     absl::Status status = absl::OkStatus()) {
    d.reason = reason;
    d.message = std::move(message);
    d.status = std::move(status);
    return d;
  };

  if (EffectiveMode(options.mode) == ShmMode::kDisabled) {
    return verdict(
        PathReason::kDisabled,
        options.mode == ShmMode::kDisabled
            ? "shared memory is disabled by the channel's options "
              "(ShmChannelOptions::mode)"
            : absl::StrCat("shared memory is disabled by ", kShmModeEnvVar, "=",
                           Env(kShmModeEnvVar), " in this environment"));
  }

  // The endpoint, as the channel derives it (rpc::ClientEndpoint), one
  // step at a time so that each failure has its own reason.
  const bool derived = options.endpoint_path.empty();
  std::string source = "the endpoint path given";
  if (!derived) {
    d.endpoint = options.endpoint_path;
  } else {
    absl::StatusOr<rpc::Address> address = rpc::ParseTarget(target);
    if (!address.ok()) {
      return verdict(PathReason::kBadTarget,
                     absl::StrCat(Quoted(target),
                                  " is not a target shmrpc can map to an "
                                  "endpoint: ",
                                  address.status().message()),
                     address.status());
    }
    if (address->kind == rpc::Address::Kind::kHostPort &&
        !rpc::IsLocalHost(address->host)) {
      return verdict(
          PathReason::kNotOnThisHost,
          absl::StrCat(Quoted(target), " names host ", Quoted(address->host),
                       ", which is not this host (not loopback, not an "
                       "address of this machine, and not a name resolving "
                       "to one): shared memory reaches only servers on this "
                       "host"),
          absl::NotFoundError("not on this host"));
    }
    absl::StatusOr<std::string> dir = rpc::EndpointDirectory(/*create=*/false);
    if (!dir.ok() && absl::IsPermissionDenied(dir.status())) {
      return verdict(
          PathReason::kUnsafeEndpointDirectory,
          absl::StrCat(dir.status().message(), " (", DirectorySource(),
                       "): no endpoint in it is used; fix its owner and "
                       "mode, or point SHMRPC_DIR elsewhere"),
          dir.status());
    }
    d.endpoint = rpc::EndpointPath(
        dir.ok() ? *dir : rpc::EndpointDirectoryPath(), *address);
    source =
        absl::StrCat("this process's endpoint directory, ", DirectorySource());
  }

  struct stat st;
  if (::lstat(d.endpoint.c_str(), &st) != 0) {
    d.found_endpoint = FindElsewhere(d.endpoint, diagnose.other_directories);
    if (!d.found_endpoint.empty()) {
      return verdict(
          PathReason::kEndpointDirDiffers,
          absl::StrCat("no endpoint at ", d.endpoint, " (", source,
                       "), but a server listens at ", d.found_endpoint,
                       ": the server and this process use different endpoint "
                       "directories; give both the same SHMRPC_DIR (e.g. "
                       "SHMRPC_DIR=",
                       Dirname(d.found_endpoint), ") or XDG_RUNTIME_DIR"),
          absl::NotFoundError("endpoint in another directory"));
    }
    const bool no_dir = ::access(Dirname(d.endpoint).c_str(), F_OK) != 0;
    return verdict(
        PathReason::kNoEndpoint,
        absl::StrCat(
            "no shared-memory endpoint at ", d.endpoint, " (", source,
            no_dir ? "; the directory does not exist" : "",
            "), nor in another endpoint directory of this user: no shmrpc "
            "server listens for ",
            Quoted(target),
            " (is it running, and built with shmrpc::ServerBuilder for "
            "this address?)"),
        absl::NotFoundError("no endpoint"));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return verdict(PathReason::kConnectFailed,
                   absl::StrCat(d.endpoint, " is not a socket"),
                   absl::FailedPreconditionError("not a socket"));
  }

  absl::StatusOr<std::shared_ptr<internal::ClientConnection>> opened =
      internal::ClientConnection::Open(
          d.endpoint, options, rpc::MessageLimits(), /*epoch=*/1,
          std::chrono::steady_clock::now() + options.connect_timeout);
  if (!opened.ok()) {
    const absl::Status& st = opened.status();
    absl::string_view why = st.message();
    int probe_error = 0;
    const Probe probe = ProbeSocket(d.endpoint, &probe_error);
    if (probe == Probe::kNobody) {
      // Nobody listens: a server elsewhere is the better lead.
      d.found_endpoint = FindElsewhere(d.endpoint, diagnose.other_directories);
      if (!d.found_endpoint.empty()) {
        return verdict(
            PathReason::kEndpointDirDiffers,
            absl::StrCat("nobody listens at ", d.endpoint, " (", source,
                         "; a stale socket), but a server listens at ",
                         d.found_endpoint,
                         ": the server and this process use different "
                         "endpoint directories; give both the same "
                         "SHMRPC_DIR (e.g. SHMRPC_DIR=",
                         Dirname(d.found_endpoint), ") or XDG_RUNTIME_DIR"),
            st);
      }
      return verdict(
          PathReason::kStaleEndpoint,
          absl::StrCat(d.endpoint,
                       " exists but nobody listens on it: its server exited "
                       "without removing it (killed?); a server started for "
                       "the same address replaces it (",
                       why, ")"),
          st);
    }
    if (probe == Probe::kError) {  // e.g. no permission to the socket
      const absl::Status failed = absl::UnavailableError(absl::StrCat(
          "connect(", d.endpoint, "): ", std::strerror(probe_error)));
      return verdict(PathReason::kConnectFailed,
                     absl::StrCat("cannot connect to ", d.endpoint, ": ",
                                  failed.message()),
                     failed);
    }
    if (probe == Probe::kBusy) {
      return verdict(PathReason::kConnectFailed,
                     absl::StrCat("the server at ", d.endpoint,
                                  " is not accepting connections (its "
                                  "backlog is full: hung or overloaded; ",
                                  why, ")"),
                     st);
    }
    // It accepts connections: the handshake or what followed failed.
    if (absl::StartsWith(why, transport::kHandshakeRefusedPrefix)) {
      why.remove_prefix(sizeof(transport::kHandshakeRefusedPrefix) - 1);
      return verdict(PathReason::kHandshakeRefused,
                     absl::StrCat("the server at ", d.endpoint,
                                  " refused the handshake: ", why),
                     st);
    }
    if (absl::IsPermissionDenied(st)) {
      // Our own allow-list (ShmChannelOptions::handshake.allow).
      return verdict(PathReason::kHandshakeRefused,
                     absl::StrCat("this client refused the server at ",
                                  d.endpoint, ": ", why),
                     st);
    }
    return verdict(PathReason::kConnectFailed,
                   absl::StrCat("connecting to the server at ", d.endpoint,
                                " failed: ", why),
                   st);
  }
  internal::ClientConnection& conn = **opened;
  d.server_pid = conn.transport().peer().pid;
  d.server_uid = conn.transport().peer().uid;
  d.methods = conn.MethodNames();
  const std::string server =
      absl::StrCat("the server at ", d.endpoint, " (pid ", d.server_pid, ")");
  if (!diagnose.method.empty() && conn.MethodId(diagnose.method) == 0) {
    std::vector<std::string> named(
        d.methods.begin(),
        d.methods.begin() + std::min(d.methods.size(), kMethodsNamed));
    if (d.methods.size() > kMethodsNamed) {
      named.push_back(
          absl::StrCat("... ", d.methods.size() - kMethodsNamed, " more"));
    }
    return verdict(
        PathReason::kMethodNotServed,
        absl::StrCat(server, " does not serve ", diagnose.method,
                     " over shared memory, so its calls go through gRPC (it "
                     "serves ",
                     d.methods.size(), " methods: ", absl::StrJoin(named, ", "),
                     "); register that service with shmrpc::ServerBuilder "
                     "too, or check the method's name"),
        absl::UnimplementedError("method not served"));
  }
  d.path = ChannelPath::kSharedMemory;
  return verdict(
      PathReason::kSharedMemory,
      absl::StrCat("shared memory via ", d.endpoint, " (server pid ",
                   d.server_pid, ", uid ", d.server_uid, ", ", d.methods.size(),
                   " methods",
                   diagnose.method.empty()
                       ? ""
                       : absl::StrCat(", ", diagnose.method, " among them"),
                   ")"));
}

}  // namespace shmrpc
