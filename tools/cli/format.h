// How the `shmrpc` tool (tools/shmrpc_main.cc) prints what it learns:
// tables that fit a terminal of 100 columns, Prometheus's text exposition
// format, and numbers in short human units. Pure functions of their
// arguments (no I/O), so that tests can pin them down. Thread-compatible.
#ifndef SHMRPC_TOOLS_CLI_FORMAT_H_
#define SHMRPC_TOOLS_CLI_FORMAT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "shmrpc/admin/v1/admin.pb.h"
#include "shmrpc/client/diagnose.h"

namespace shmrpc::cli {

// The widest line the tables print.
inline constexpr int kMaxWidth = 100;

// `text` (which may come from a peer) safe for a terminal: control bytes
// (below 0x20, and 0x7f) become \xNN escapes, except newlines when
// `keep_newlines` (a table's own line breaks).
std::string Printable(const std::string& text, bool keep_newlines = false);

// "OK", "CANCELLED", ... for grpc::StatusCode values; "CODE_<n>" otherwise.
std::string CodeName(int code);

// 0.9s, 59.9s, 5m02s, 3h04m, 2d03h.
std::string Duration(double seconds);
// Three significant digits: 850ns, 12.1us, 1.50ms, 2.31s ("-" if `count`
// calls were 0, i.e. there is no value).
std::string Micros(double micros);
// 512B, 1.00KiB, 12.3MiB, ...
std::string Bytes(uint64_t bytes);

// `shmrpc stats`'s table: the server, its methods by service (calls,
// errors, in flight, p50/p99/max latency, bytes each way), the error codes
// seen, and its connections (if the reply has them). `endpoint`: the socket
// asked.
std::string StatsTable(const admin::v1::ServerStatsReply& stats,
                       const std::string& endpoint);

// The same in Prometheus's text exposition format (version 0.0.4): every
// series labelled endpoint="<the socket path>", so that several servers'
// outputs can be concatenated.
std::string Prometheus(const admin::v1::ServerStatsReply& stats,
                       const std::string& endpoint);

// One endpoint found by `shmrpc list`. Plain value.
struct ListedEndpoint {
  std::string path;
  // The server's answer, when it gave one.
  bool answered = false;
  admin::v1::ServerStatsReply stats;
  // Otherwise why not (a diagnosis reason name and its message).
  std::string state;
};

// `shmrpc list`'s table of the endpoints in `directory`.
std::string ListTable(const std::string& directory,
                      const std::vector<ListedEndpoint>& endpoints);

// `shmrpc why`'s report on `target` (one field a line, the explanation
// wrapped to the terminal).
std::string WhyReport(const std::string& target, const PathDiagnosis& d);

}  // namespace shmrpc::cli

#endif  // SHMRPC_TOOLS_CLI_FORMAT_H_
