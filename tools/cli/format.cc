#include "tools/cli/format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace shmrpc::cli {

std::string Printable(const std::string& text, bool keep_newlines) {
  std::string out;
  out.reserve(text.size());
  for (const char ch : text) {
    const auto b = static_cast<unsigned char>(ch);
    if ((b < 0x20 && !(keep_newlines && ch == '\n')) || b == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[b >> 4];
      out += kHex[b & 0xf];
    } else {
      out += ch;
    }
  }
  return out;
}
namespace {

constexpr const char* kCodeNames[] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

// Three significant digits of `v` (>= 0), then `unit`.
std::string Sig3(double v, const char* unit) {
  if (v < 10) return absl::StrFormat("%.2f%s", v, unit);
  if (v < 100) return absl::StrFormat("%.1f%s", v, unit);
  return absl::StrFormat("%.0f%s", v, unit);
}

// `name` split into its service ("package.Service") and method ("Method");
// a name that is not "/service/method" is all method.
std::pair<std::string, std::string> SplitMethod(const std::string& name) {
  const size_t slash = name.rfind('/');
  if (name.size() < 2 || name[0] != '/' || slash == 0 ||
      slash == std::string::npos) {
    return {"", name};
  }
  return {name.substr(1, slash - 1), name.substr(slash + 1)};
}

// `s` cut to `width` columns, its end replaced by "..." if it was longer.
std::string Fit(const std::string& s, size_t width) {
  if (s.size() <= width) return s;
  if (width <= 3) return s.substr(0, width);
  return s.substr(0, width - 3) + "...";
}

uint64_t Errors(const admin::v1::MethodStats& m) {
  uint64_t errors = 0;
  for (const auto& [code, n] : m.calls_by_code()) {
    if (code != 0) errors += n;
  }
  return errors;
}

// A Prometheus label value, escaped.
std::string LabelValue(const std::string& v) {
  std::string out;
  for (char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// A sample value: integers as such, others with all the digits a double
// needs, no values as NaN.
std::string Value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    return absl::StrFormat("%.0f", v);
  }
  return absl::StrFormat("%.9g", v);
}

// Writes Prometheus metric families: each family's HELP and TYPE once, then
// all its samples together (as the format requires).
class Exposition {
 public:
  explicit Exposition(std::string endpoint)
      : base_labels_(absl::StrCat("endpoint=\"", LabelValue(endpoint), "\"")) {}

  // Starts family `name` of `type` ("counter", "gauge", "summary").
  void Family(const std::string& name, const char* type,
              const std::string& help) {
    absl::StrAppend(&out_, "# HELP ", name, " ", help, "\n", "# TYPE ", name,
                    " ", type, "\n");
  }
  // One sample of the current family: `name` (the family's, or with a
  // _sum/_count suffix), labels as (name, value) pairs.
  void Sample(const std::string& name,
              const std::vector<std::pair<std::string, std::string>>& labels,
              double value) {
    std::string l = base_labels_;
    for (const auto& [k, v] : labels) {
      absl::StrAppend(&l, ",", k, "=\"", LabelValue(v), "\"");
    }
    absl::StrAppend(&out_, name, "{", l, "} ", Value(value), "\n");
  }

  const std::string& text() const { return out_; }

 private:
  const std::string base_labels_;
  std::string out_;
};

using Labels = std::vector<std::pair<std::string, std::string>>;

Labels MethodLabels(const admin::v1::MethodStats& m) {
  return {{"method", m.method()}, {"transport", m.transport()}};
}

}  // namespace

std::string CodeName(int code) {
  if (code >= 0 &&
      code < static_cast<int>(sizeof(kCodeNames) / sizeof(kCodeNames[0]))) {
    return kCodeNames[code];
  }
  return absl::StrCat("CODE_", code);
}

std::string Duration(double seconds) {
  if (!(seconds >= 0)) seconds = 0;
  if (seconds < 60) return absl::StrFormat("%.1fs", seconds);
  const uint64_t s = static_cast<uint64_t>(seconds);
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  if (s < 86400) return absl::StrFormat("%dh%02dm", s / 3600, s % 3600 / 60);
  return absl::StrFormat("%dd%02dh", s / 86400, s % 86400 / 3600);
}

std::string Micros(double micros) {
  if (!(micros >= 0)) micros = 0;
  if (micros < 1) return Sig3(micros * 1000, "ns");
  if (micros < 1000) return Sig3(micros, "us");
  if (micros < 1e6) return Sig3(micros / 1000, "ms");
  return Sig3(micros / 1e6, "s");
}

std::string Bytes(uint64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, "B");
  const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes) / 1024;
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return Sig3(v, units[u]);
}

std::string StatsTable(const admin::v1::ServerStatsReply& s,
                       const std::string& endpoint) {
  std::string out;
  absl::StrAppend(&out, "shmrpc server pid ", s.pid(), " (uid ", s.uid(),
                  "), up ", Duration(s.uptime_seconds()), "\n");
  absl::StrAppend(&out, "  endpoint ", endpoint);
  if (s.addresses_size() > 0) {
    absl::StrAppend(&out, " (", absl::StrJoin(s.addresses(), ", "), ")");
  }
  absl::StrAppend(&out, "\n");
  absl::StrAppend(&out, "  connections: ", s.connections_live(), " open, ",
                  s.connections_accepted(), " accepted, ",
                  s.connections_refused(), " refused   calls: ", s.calls(),
                  " (", s.calls_in_flight(),
                  " running)   threads: ", s.threads(), "\n");
  if (s.thread_failures() > 0) {
    absl::StrAppend(&out, "  thread failures: ", s.thread_failures(), "\n");
  }

  // Methods, grouped by service (in the reply's order: sorted by name).
  std::vector<
      std::pair<std::string, std::vector<const admin::v1::MethodStats*>>>
      services;
  size_t name_width = 6;  // "METHOD"
  for (const admin::v1::MethodStats& m : s.methods()) {
    auto [service, method] = SplitMethod(m.method());
    if (services.empty() || services.back().first != service) {
      services.push_back({service, {}});
    }
    services.back().second.push_back(&m);
    name_width = std::max(name_width, method.size() + 2);
  }
  // The columns after the name take 70; the name gets the rest, up to 30.
  name_width = std::min<size_t>(name_width, kMaxWidth - 70);
  auto row = [&](const std::string& name, const std::string& via,
                 const std::string& calls, const std::string& errors,
                 const std::string& running, const std::string& p50,
                 const std::string& p99, const std::string& max,
                 const std::string& in, const std::string& sent) {
    std::string line =
        absl::StrFormat("%-*s %-4s %8s %7s %4s %7s %7s %7s %8s %8s", name_width,
                        Fit(name, name_width), via, calls, errors, running, p50,
                        p99, max, in, sent);
    // Trailing blanks would only make lines look longer than they are.
    line.erase(line.find_last_not_of(' ') + 1);
    absl::StrAppend(&out, line, "\n");
  };
  absl::StrAppend(&out, "\n");
  row("METHOD", "VIA", "CALLS", "ERRORS", "RUN", "P50", "P99", "MAX", "IN",
      "OUT");
  std::vector<std::string> error_lines;
  for (const auto& [service, methods] : services) {
    if (!service.empty()) absl::StrAppend(&out, Fit(service, kMaxWidth), "\n");
    for (const admin::v1::MethodStats* m : methods) {
      const std::string name = service.empty()
                                   ? m->method()
                                   : "  " + SplitMethod(m->method()).second;
      const bool any = m->calls() > 0;
      row(name, m->transport(), absl::StrCat(m->calls()),
          absl::StrCat(Errors(*m)), absl::StrCat(m->in_flight()),
          any ? Micros(m->latency_p50_us()) : "-",
          any ? Micros(m->latency_p99_us()) : "-",
          any ? Micros(m->latency_max_us()) : "-", Bytes(m->bytes_in()),
          Bytes(m->bytes_out()));
      std::vector<std::string> codes;
      std::map<int, uint64_t> sorted(m->calls_by_code().begin(),
                                     m->calls_by_code().end());
      for (const auto& [code, n] : sorted) {
        if (code != 0 && n > 0) {
          codes.push_back(absl::StrCat(CodeName(code), " ", n));
        }
      }
      if (!codes.empty()) {
        error_lines.push_back(absl::StrCat("  ", m->method(), " (",
                                           m->transport(),
                                           "): ", absl::StrJoin(codes, ", ")));
      }
    }
  }
  if (!error_lines.empty()) {
    absl::StrAppend(&out, "\nerrors by status code:\n",
                    absl::StrJoin(error_lines, "\n"), "\n");
  }
  if (s.connections_size() > 0) {
    absl::StrAppend(&out, "\n");
    auto conn_row = [&](const std::string& pid, const std::string& uid,
                        const std::string& age, const std::string& calls,
                        const std::string& threads, const std::string& pool) {
      std::string line = absl::StrFormat("%8s %6s %8s %10s %8s  %s", pid, uid,
                                         age, calls, threads, pool);
      line.erase(line.find_last_not_of(' ') + 1);
      absl::StrAppend(&out, line, "\n");
    };
    conn_row("PEER PID", "UID", "AGE", "CALLS", "THREADS",
             "POOL USED / CAPACITY");
    for (const admin::v1::ConnectionStats& c : s.connections()) {
      conn_row(absl::StrCat(c.peer_pid()), absl::StrCat(c.peer_uid()),
               Duration(c.age_seconds()), absl::StrCat(c.calls()),
               absl::StrCat(c.threads(), "/", c.max_threads()),
               absl::StrCat(Bytes(c.pool_bytes_used()), " / ",
                            Bytes(c.pool_bytes_capacity())));
    }
  }
  return out;
}

std::string Prometheus(const admin::v1::ServerStatsReply& s,
                       const std::string& endpoint) {
  Exposition e(endpoint);
  e.Family("shmrpc_server_info", "gauge",
           "The shmrpc server answering at the endpoint (always 1).");
  e.Sample("shmrpc_server_info",
           {{"pid", absl::StrCat(s.pid())}, {"uid", absl::StrCat(s.uid())}}, 1);
  e.Family("shmrpc_server_start_time_seconds", "gauge",
           "When the server started, in seconds since the Unix epoch.");
  e.Sample("shmrpc_server_start_time_seconds", {}, s.start_time());
  e.Family("shmrpc_server_uptime_seconds", "gauge",
           "Seconds since the server started.");
  e.Sample("shmrpc_server_uptime_seconds", {}, s.uptime_seconds());
  e.Family("shmrpc_server_connections", "gauge",
           "Client connections over shared memory open now.");
  e.Sample("shmrpc_server_connections", {}, s.connections_live());
  e.Family("shmrpc_server_connections_accepted_total", "counter",
           "Client connections over shared memory accepted.");
  e.Sample("shmrpc_server_connections_accepted_total", {},
           static_cast<double>(s.connections_accepted()));
  e.Family("shmrpc_server_connections_refused_total", "counter",
           "Clients refused by the server's admission (connection limit, no "
           "threads).");
  e.Sample("shmrpc_server_connections_refused_total", {},
           static_cast<double>(s.connections_refused()));
  e.Family("shmrpc_server_threads", "gauge", "Serving threads alive.");
  e.Sample("shmrpc_server_threads", {}, s.threads());
  e.Family("shmrpc_server_thread_failures_total", "counter",
           "Times a serving thread could not be started.");
  e.Sample("shmrpc_server_thread_failures_total", {},
           static_cast<double>(s.thread_failures()));

  e.Family("shmrpc_server_calls_total", "counter",
           "Finished calls by method, transport and status code.");
  for (const admin::v1::MethodStats& m : s.methods()) {
    std::map<int, uint64_t> codes(m.calls_by_code().begin(),
                                  m.calls_by_code().end());
    codes.emplace(0, 0);  // every method has an OK series
    for (const auto& [code, n] : codes) {
      Labels labels = MethodLabels(m);
      labels.push_back({"code", CodeName(code)});
      e.Sample("shmrpc_server_calls_total", labels, static_cast<double>(n));
    }
  }
  e.Family("shmrpc_server_calls_in_flight", "gauge",
           "Calls running now, by method and transport.");
  for (const admin::v1::MethodStats& m : s.methods()) {
    e.Sample("shmrpc_server_calls_in_flight", MethodLabels(m),
             static_cast<double>(m.in_flight()));
  }
  e.Family("shmrpc_server_call_latency_seconds", "summary",
           "Latency of finished calls as the server saw them (quantiles "
           "within 3.2%), by method and transport.");
  for (const admin::v1::MethodStats& m : s.methods()) {
    const bool any = m.calls() > 0;
    const std::pair<const char*, double> quantiles[] = {
        {"0.5", m.latency_p50_us()},
        {"0.9", m.latency_p90_us()},
        {"0.99", m.latency_p99_us()},
        {"0.999", m.latency_p999_us()},
    };
    for (const auto& [q, us] : quantiles) {
      Labels labels = MethodLabels(m);
      labels.push_back({"quantile", q});
      e.Sample("shmrpc_server_call_latency_seconds", labels,
               any ? us / 1e6 : std::nan(""));
    }
    e.Sample("shmrpc_server_call_latency_seconds_sum", MethodLabels(m),
             m.latency_sum_us() / 1e6);
    e.Sample("shmrpc_server_call_latency_seconds_count", MethodLabels(m),
             static_cast<double>(m.calls()));
  }
  struct Counter {
    const char* name;
    const char* help;
    uint64_t (admin::v1::MethodStats::*get)() const;
  };
  const Counter counters[] = {
      {"shmrpc_server_received_messages_total",
       "Messages received from clients, by method and transport.",
       &admin::v1::MethodStats::messages_in},
      {"shmrpc_server_received_bytes_total",
       "Serialized bytes of the messages received from clients.",
       &admin::v1::MethodStats::bytes_in},
      {"shmrpc_server_sent_messages_total",
       "Messages sent to clients, by method and transport.",
       &admin::v1::MethodStats::messages_out},
      {"shmrpc_server_sent_bytes_total",
       "Serialized bytes of the messages sent to clients.",
       &admin::v1::MethodStats::bytes_out},
  };
  for (const Counter& c : counters) {
    e.Family(c.name, "counter", c.help);
    for (const admin::v1::MethodStats& m : s.methods()) {
      e.Sample(c.name, MethodLabels(m), static_cast<double>((m.*c.get)()));
    }
  }

  if (s.connections_size() > 0) {
    auto labels = [](const admin::v1::ConnectionStats& c) {
      return Labels{{"peer_pid", absl::StrCat(c.peer_pid())},
                    {"peer_uid", absl::StrCat(c.peer_uid())}};
    };
    e.Family("shmrpc_connection_age_seconds", "gauge",
             "Seconds since the connection's handshake.");
    for (const auto& c : s.connections()) {
      e.Sample("shmrpc_connection_age_seconds", labels(c), c.age_seconds());
    }
    e.Family("shmrpc_connection_calls_total", "counter",
             "Calls the connection started.");
    for (const auto& c : s.connections()) {
      e.Sample("shmrpc_connection_calls_total", labels(c),
               static_cast<double>(c.calls()));
    }
    e.Family("shmrpc_connection_threads", "gauge",
             "Serving threads of the connection now.");
    for (const auto& c : s.connections()) {
      e.Sample("shmrpc_connection_threads", labels(c), c.threads());
    }
    e.Family("shmrpc_connection_max_threads", "gauge",
             "Serving threads the connection may have now.");
    for (const auto& c : s.connections()) {
      e.Sample("shmrpc_connection_max_threads", labels(c), c.max_threads());
    }
    e.Family("shmrpc_connection_pool_used_bytes", "gauge",
             "Bytes of the server's data segment for the connection in "
             "chunks held or lent to the client.");
    for (const auto& c : s.connections()) {
      e.Sample("shmrpc_connection_pool_used_bytes", labels(c),
               static_cast<double>(c.pool_bytes_used()));
    }
    e.Family("shmrpc_connection_pool_capacity_bytes", "gauge",
             "Bytes of all chunks of the server's data segment for the "
             "connection.");
    for (const auto& c : s.connections()) {
      e.Sample("shmrpc_connection_pool_capacity_bytes", labels(c),
               static_cast<double>(c.pool_bytes_capacity()));
    }
  }
  return e.text();
}

std::string ListTable(const std::string& directory,
                      const std::vector<ListedEndpoint>& endpoints) {
  std::string out = absl::StrCat("endpoint directory ", directory, "\n");
  if (endpoints.empty()) {
    absl::StrAppend(&out, "(no endpoints)\n");
    return out;
  }
  size_t name_width = 8;     // "ENDPOINT"
  size_t address_width = 7;  // "ADDRESS"
  std::vector<std::string> addresses;
  for (const ListedEndpoint& e : endpoints) {
    const size_t slash = e.path.rfind('/');
    name_width = std::max(name_width, e.path.size() - (slash + 1));
    std::string address = e.answered && e.stats.addresses_size() > 0
                              ? absl::StrJoin(e.stats.addresses(), ",")
                              : "-";
    address_width = std::max(address_width, address.size());
    addresses.push_back(std::move(address));
  }
  name_width = std::min<size_t>(name_width, 28);
  address_width = std::min<size_t>(address_width, 24);
  auto row = [&](const std::string& name, const std::string& address,
                 const std::string& pid, const std::string& uptime,
                 const std::string& conns, const std::string& calls,
                 const std::string& state) {
    std::string line = absl::StrFormat(
        "%-*s %-*s %8s %8s %6s %10s  %s", name_width, Fit(name, name_width),
        address_width, Fit(address, address_width), pid, uptime, conns, calls,
        state);
    line.erase(line.find_last_not_of(' ') + 1);
    absl::StrAppend(&out, line, "\n");
  };
  row("ENDPOINT", "ADDRESS", "PID", "UPTIME", "CONNS", "CALLS", "STATE");
  for (size_t i = 0; i < endpoints.size(); ++i) {
    const ListedEndpoint& e = endpoints[i];
    const std::string name = e.path.substr(e.path.rfind('/') + 1);
    if (e.answered) {
      row(name, addresses[i], absl::StrCat(e.stats.pid()),
          Duration(e.stats.uptime_seconds()),
          absl::StrCat(e.stats.connections_live()),
          absl::StrCat(e.stats.calls()), "serving");
    } else {
      row(name, addresses[i], "-", "-", "-", "-", e.state);
    }
  }
  return out;
}

std::string WhyReport(const std::string& target, const PathDiagnosis& d) {
  std::string out;
  auto field = [&](const char* name, const std::string& value) {
    if (!value.empty())
      absl::StrAppend(&out, absl::StrFormat("%-9s %s\n", name, value));
  };
  field("target:", target);
  field("path:",
        d.path == ChannelPath::kSharedMemory ? "shared memory" : "gRPC");
  field("reason:", PathReasonName(d.reason));
  field("endpoint:", d.endpoint);
  field("found:", d.found_endpoint);
  if (d.server_pid != 0) {
    field("server:",
          absl::StrCat("pid ", d.server_pid, ", uid ", d.server_uid, ", ",
                       d.methods.size(), " methods over shared memory"));
  }
  // The explanation, wrapped at word boundaries to kMaxWidth - 20 columns
  // with a hanging indent (paths stay whole).
  constexpr size_t kIndent = 10;
  constexpr size_t kWidth = 80;
  std::string line = "why:";
  line.resize(kIndent, ' ');
  size_t start = 0;
  const std::string& text = d.message;
  bool first_word = true;
  while (start < text.size()) {
    size_t end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    const std::string word = text.substr(start, end - start);
    if (!first_word && line.size() + 1 + word.size() > kWidth) {
      absl::StrAppend(&out, line, "\n");
      line = std::string(kIndent, ' ');
      first_word = true;
    }
    if (!first_word) line += ' ';
    line += word;
    first_word = false;
    start = end + 1;
  }
  absl::StrAppend(&out, line, "\n");
  return out;
}

}  // namespace shmrpc::cli
