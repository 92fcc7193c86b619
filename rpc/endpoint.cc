#include "shmrpc/rpc/endpoint.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace shmrpc::rpc {
namespace {

absl::StatusOr<int> ParsePort(absl::string_view s, absl::string_view whole) {
  int port;
  if (!absl::SimpleAtoi(s, &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad port in '", whole, "'"));
  }
  return port;
}

// "host:port", "[v6]:port", "host" (default port), "v6addr" (no port).
absl::StatusOr<Address> ParseHostPort(absl::string_view s,
                                      absl::string_view whole,
                                      int default_port) {
  Address a;
  a.kind = Address::Kind::kHostPort;
  if (s.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("no host in '", whole, "'"));
  }
  if (s.front() == '[') {
    size_t close = s.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("unbalanced '[' in '", whole, "'"));
    }
    a.host = std::string(s.substr(1, close - 1));
    absl::string_view rest = s.substr(close + 1);
    if (rest.empty()) {
      a.port = default_port;
    } else if (rest.front() == ':') {
      absl::StatusOr<int> p = ParsePort(rest.substr(1), whole);
      if (!p.ok()) return p.status();
      a.port = *p;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("junk after ']' in '", whole, "'"));
    }
    return a;
  }
  size_t colon = s.rfind(':');
  if (colon == absl::string_view::npos) {
    a.host = std::string(s);
    a.port = default_port;
  } else if (s.find(':') != colon) {
    // Several colons and no brackets: a bare IPv6 address without a port.
    a.host = std::string(s);
    a.port = default_port;
  } else {
    a.host = std::string(s.substr(0, colon));
    absl::StatusOr<int> p = ParsePort(s.substr(colon + 1), whole);
    if (!p.ok()) return p.status();
    a.port = *p;
  }
  if (a.host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("no host in '", whole, "'"));
  }
  return a;
}

// Makes a unix socket path absolute (relative to the working directory) and
// strips "." components and duplicate slashes, without touching the file
// system, so that client and server spell it the same way.
std::string NormalizePath(absl::string_view path) {
  std::string full;
  if (!path.empty() && path.front() == '/') {
    full = std::string(path);
  } else {
    char cwd[4096];
    full = absl::StrCat(::getcwd(cwd, sizeof(cwd)) ? cwd : "", "/", path);
  }
  std::vector<absl::string_view> parts;
  for (absl::string_view p : absl::StrSplit(full, '/', absl::SkipEmpty())) {
    if (p == ".") continue;
    parts.push_back(p);
  }
  std::string out;
  for (absl::string_view p : parts) absl::StrAppend(&out, "/", p);
  return out.empty() ? "/" : out;
}

absl::StatusOr<Address> ParseUnix(absl::string_view rest,
                                  absl::string_view whole) {
  Address a;
  a.kind = Address::Kind::kUnix;
  // "unix://" is followed by an absolute path ("unix:///abs").
  if (absl::StartsWith(rest, "//")) rest.remove_prefix(2);
  if (rest.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("no path in '", whole, "'"));
  }
  a.path = NormalizePath(rest);
  return a;
}

uint64_t Fnv1a64(absl::string_view s) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

bool IsLoopbackOrAny(const sockaddr* sa) {
  if (sa->sa_family == AF_INET) {
    uint32_t ip =
        ntohl(reinterpret_cast<const sockaddr_in*>(sa)->sin_addr.s_addr);
    return (ip >> 24) == 127 || ip == 0;
  }
  if (sa->sa_family == AF_INET6) {
    const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(&a) || IN6_IS_ADDR_UNSPECIFIED(&a)) return true;
    if (IN6_IS_ADDR_V4MAPPED(&a)) {
      uint32_t ip;
      std::memcpy(&ip, &a.s6_addr[12], 4);
      ip = ntohl(ip);
      return (ip >> 24) == 127 || ip == 0;
    }
  }
  return false;
}

bool SameAddress(const sockaddr* a, const sockaddr* b) {
  if (a->sa_family != b->sa_family) return false;
  if (a->sa_family == AF_INET) {
    return reinterpret_cast<const sockaddr_in*>(a)->sin_addr.s_addr ==
           reinterpret_cast<const sockaddr_in*>(b)->sin_addr.s_addr;
  }
  if (a->sa_family == AF_INET6) {
    return std::memcmp(&reinterpret_cast<const sockaddr_in6*>(a)->sin6_addr,
                       &reinterpret_cast<const sockaddr_in6*>(b)->sin6_addr,
                       sizeof(in6_addr)) == 0;
  }
  return false;
}

bool IsLocalAddress(const sockaddr* sa) {
  if (IsLoopbackOrAny(sa)) return true;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return false;
  bool local = false;
  for (ifaddrs* i = list; i != nullptr && !local; i = i->ifa_next) {
    if (i->ifa_addr != nullptr && SameAddress(i->ifa_addr, sa)) local = true;
  }
  ::freeifaddrs(list);
  return local;
}

}  // namespace

absl::StatusOr<Address> ParseTarget(absl::string_view target) {
  absl::string_view t = target;
  if (absl::ConsumePrefix(&t, "unix-abstract:")) {
    if (t.empty())
      return absl::InvalidArgumentError("empty unix-abstract name");
    Address a;
    a.kind = Address::Kind::kUnixAbstract;
    a.path = std::string(t);
    return a;
  }
  if (absl::ConsumePrefix(&t, "unix:")) return ParseUnix(t, target);
  if (absl::ConsumePrefix(&t, "dns:")) {
    if (absl::ConsumePrefix(&t, "//")) {
      // Skip the authority (the DNS server to ask): "dns://8.8.8.8/host".
      size_t slash = t.find('/');
      if (slash == absl::string_view::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("no host after the authority in '", target, "'"));
      }
      t.remove_prefix(slash + 1);
    }
    return ParseHostPort(t, target, 443);
  }
  if (absl::ConsumePrefix(&t, "ipv4:") || absl::ConsumePrefix(&t, "ipv6:")) {
    if (absl::StrContains(t, ',')) {
      return absl::InvalidArgumentError(
          absl::StrCat("address lists are not supported: '", target, "'"));
    }
    return ParseHostPort(t, target, 443);
  }
  size_t scheme = t.find("://");
  if (scheme != absl::string_view::npos && t.find('[') > scheme) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported target scheme in '", target, "'"));
  }
  return ParseHostPort(t, target, 443);
}

absl::StatusOr<Address> ParseListeningAddress(absl::string_view address) {
  absl::string_view t = address;
  if (absl::ConsumePrefix(&t, "unix-abstract:")) {
    Address a;
    a.kind = Address::Kind::kUnixAbstract;
    a.path = std::string(t);
    if (a.path.empty()) return absl::InvalidArgumentError("empty name");
    return a;
  }
  if (absl::ConsumePrefix(&t, "unix:")) return ParseUnix(t, address);
  absl::ConsumePrefix(&t, "dns:");
  absl::StatusOr<Address> a = ParseHostPort(t, address, -1);
  if (a.ok() && a->port < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("listening address needs a port: '", address, "'"));
  }
  return a;
}

bool IsLocalHost(const std::string& host) {
  std::string h = absl::AsciiStrToLower(host);
  if (h == "localhost" || absl::EndsWith(h, ".localhost")) return true;
  sockaddr_storage ss{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET, h.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    return IsLocalAddress(reinterpret_cast<sockaddr*>(&ss));
  }
  if (::inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    return IsLocalAddress(reinterpret_cast<sockaddr*>(&ss));
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* results = nullptr;
  if (::getaddrinfo(h.c_str(), nullptr, &hints, &results) != 0) return false;
  bool local = false;
  for (addrinfo* r = results; r != nullptr && !local; r = r->ai_next) {
    local = IsLocalAddress(r->ai_addr);
  }
  ::freeaddrinfo(results);
  return local;
}

std::string EndpointDirectoryPath() {
  if (const char* d = std::getenv("SHMRPC_DIR"); d != nullptr && *d != '\0') {
    return d;
  }
  if (const char* x = std::getenv("XDG_RUNTIME_DIR");
      x != nullptr && *x != '\0') {
    return absl::StrCat(x, "/shmrpc");
  }
  return absl::StrCat("/tmp/shmrpc-", ::geteuid());
}

absl::StatusOr<std::string> EndpointDirectory(bool create) {
  const std::string dir = EndpointDirectoryPath();
  if (create && ::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create shared-memory endpoint directory ", dir,
                     ": ", std::strerror(errno)));
  }
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0) {
    return absl::NotFoundError(
        absl::StrCat("no shared-memory endpoint directory ", dir));
  }
  if (!S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() ||
      (st.st_mode & 0077) != 0) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "shared-memory endpoint directory %s must be a directory owned by uid "
        "%d with mode 0700 (is mode %o, uid %d)",
        dir, ::geteuid(), st.st_mode & 07777, st.st_uid));
  }
  return dir;
}

std::string EndpointPath(const std::string& directory, const Address& a) {
  switch (a.kind) {
    case Address::Kind::kHostPort:
      return absl::StrCat(directory, "/port-", a.port, ".sock");
    case Address::Kind::kUnix:
      return absl::StrFormat("%s/unix-%016x.sock", directory, Fnv1a64(a.path));
    case Address::Kind::kUnixAbstract:
      return absl::StrFormat("%s/abstract-%016x.sock", directory,
                             Fnv1a64(a.path));
  }
  return directory;
}

absl::StatusOr<std::string> ClientEndpoint(absl::string_view target) {
  absl::StatusOr<Address> a = ParseTarget(target);
  if (!a.ok()) return a.status();
  if (a->kind == Address::Kind::kHostPort && !IsLocalHost(a->host)) {
    return absl::NotFoundError(
        absl::StrCat("'", target, "' is not on this host"));
  }
  absl::StatusOr<std::string> dir = EndpointDirectory(/*create=*/false);
  if (!dir.ok()) return dir.status();
  return EndpointPath(*dir, *a);
}

absl::StatusOr<std::string> ServerEndpoint(absl::string_view address) {
  absl::StatusOr<Address> a = ParseListeningAddress(address);
  if (!a.ok()) return a.status();
  absl::StatusOr<std::string> dir = EndpointDirectory(/*create=*/true);
  if (!dir.ok()) return dir.status();
  return EndpointPath(*dir, *a);
}

std::string PeerName(pid_t pid, uid_t uid) {
  return absl::StrCat("shmrpc:pid=", pid, ",uid=", uid);
}

}  // namespace shmrpc::rpc
