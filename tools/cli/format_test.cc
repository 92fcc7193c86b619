#include "tools/cli/format.h"

#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace shmrpc::cli {
namespace {

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

TEST(UnitsTest, ShortHumanUnits) {
  EXPECT_EQ(Duration(0.94), "0.9s");
  EXPECT_EQ(Duration(59.94), "59.9s");
  EXPECT_EQ(Duration(302), "5m02s");
  EXPECT_EQ(Duration(3 * 3600 + 4 * 60 + 5), "3h04m");
  EXPECT_EQ(Duration(2 * 86400 + 3 * 3600), "2d03h");
  EXPECT_EQ(Micros(0.85), "850ns");
  EXPECT_EQ(Micros(12.14), "12.1us");
  EXPECT_EQ(Micros(1500), "1.50ms");
  EXPECT_EQ(Micros(2.31e6), "2.31s");
  EXPECT_EQ(Bytes(512), "512B");
  EXPECT_EQ(Bytes(1024), "1.00KiB");
  EXPECT_EQ(Bytes(uint64_t{59} << 20), "59.0MiB");
  EXPECT_EQ(CodeName(0), "OK");
  EXPECT_EQ(CodeName(5), "NOT_FOUND");
  EXPECT_EQ(CodeName(16), "UNAUTHENTICATED");
  EXPECT_EQ(CodeName(17), "CODE_17");
}

admin::v1::ServerStatsReply Sample() {
  admin::v1::ServerStatsReply s;
  s.set_pid(4242);
  s.set_uid(1000);
  s.set_start_time(1700000000.5);
  s.set_uptime_seconds(65);
  s.add_endpoints("/run/user/1000/shmrpc/port-50051.sock");
  s.add_addresses("[::]:50051");
  s.set_connections_live(1);
  s.set_connections_accepted(3);
  s.set_calls(12);
  s.set_threads(2);
  admin::v1::MethodStats* m = s.add_methods();
  m->set_method("/pkg.Greeter/SayHello");
  m->set_transport("shm");
  (*m->mutable_calls_by_code())[0] = 10;
  (*m->mutable_calls_by_code())[5] = 2;
  m->set_calls(12);
  m->set_latency_p50_us(3.2);
  m->set_latency_p90_us(5);
  m->set_latency_p99_us(12);
  m->set_latency_p999_us(30);
  m->set_latency_max_us(40);
  m->set_latency_sum_us(60);
  m->set_bytes_in(1200);
  m->set_bytes_out(2400);
  m->set_messages_in(12);
  m->set_messages_out(10);
  m = s.add_methods();
  m->set_method("/pkg.Greeter/AVeryLongMethodNameThatWillNotFitInTheColumn");
  m->set_transport("grpc");
  m = s.add_methods();
  m->set_method("(other methods)");
  m->set_transport("grpc");
  admin::v1::ConnectionStats* c = s.add_connections();
  c->set_peer_pid(4343);
  c->set_peer_uid(1000);
  c->set_age_seconds(61);
  c->set_calls(12);
  c->set_threads(2);
  c->set_max_threads(16);
  c->set_pool_bytes_used(8192);
  c->set_pool_bytes_capacity(uint64_t{59} << 20);
  return s;
}

// The table fits 100 columns, groups methods by service and shows what the
// reply holds.
TEST(StatsTableTest, FitsAndShowsEverything) {
  const std::string table =
      StatsTable(Sample(), "/run/user/1000/shmrpc/port-50051.sock");
  for (const std::string& line : Lines(table)) {
    EXPECT_LE(line.size(), static_cast<size_t>(kMaxWidth)) << line;
    EXPECT_FALSE(absl::EndsWith(line, " ")) << line;
  }
  EXPECT_TRUE(absl::StartsWith(table,
                               "shmrpc server pid 4242 (uid 1000), up "
                               "1m05s\n"))
      << table;
  EXPECT_NE(table.find("port-50051.sock ([::]:50051)"), std::string::npos);
  EXPECT_NE(table.find("\npkg.Greeter\n  SayHello "), std::string::npos)
      << table;
  EXPECT_NE(table.find("  AVeryLongMethodNameThatWi... grpc"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("\n(other methods) "), std::string::npos) << table;
  EXPECT_NE(table.find("3.20us"), std::string::npos) << table;
  EXPECT_NE(table.find("1.17KiB"), std::string::npos) << table;
  EXPECT_NE(table.find("/pkg.Greeter/SayHello (shm): NOT_FOUND 2"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("2/16  8.00KiB / 59.0MiB"), std::string::npos) << table;
}

// Every family has one HELP and one TYPE line before its samples, which
// follow together; every sample is labelled with the endpoint.
TEST(PrometheusTest, WellFormedFamilies) {
  const std::string text = Prometheus(Sample(), "/tmp/a \"b\"\\c.sock");
  std::set<std::string> families;
  std::string current;
  for (const std::string& line : Lines(text)) {
    if (absl::StartsWith(line, "# HELP ")) {
      const std::string name =
          std::vector<std::string>(absl::StrSplit(line.substr(7), ' '))[0];
      EXPECT_TRUE(families.insert(name).second) << "family twice: " << name;
      current = name;
      continue;
    }
    if (absl::StartsWith(line, "# TYPE ")) {
      EXPECT_TRUE(absl::StartsWith(line, "# TYPE " + current + " ")) << line;
      continue;
    }
    EXPECT_TRUE(absl::StartsWith(line, current)) << line;
    EXPECT_NE(line.find("{endpoint=\"/tmp/a \\\"b\\\"\\\\c.sock\""),
              std::string::npos)
        << line;
  }
  EXPECT_NE(text.find("shmrpc_server_calls_total{endpoint=\"/tmp/a "
                      "\\\"b\\\"\\\\c.sock\",method=\"/pkg.Greeter/"
                      "SayHello\",transport=\"shm\",code=\"NOT_FOUND\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("quantile=\"0.99\"} 1.2e-05\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("shmrpc_server_call_latency_seconds_count{endpoint="),
            std::string::npos);
  // No calls: quantiles are NaN, as Prometheus's clients write them.
  EXPECT_NE(text.find("transport=\"grpc\",quantile=\"0.5\"} NaN\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# TYPE shmrpc_server_call_latency_seconds summary\n"),
            std::string::npos);
  EXPECT_NE(text.find("shmrpc_connection_pool_used_bytes{endpoint="),
            std::string::npos);
}

TEST(ListTableTest, ServersAndStaleSockets) {
  std::vector<ListedEndpoint> endpoints(2);
  endpoints[0].path = "/d/port-50051.sock";
  endpoints[0].answered = true;
  endpoints[0].stats = Sample();
  endpoints[1].path = "/d/unix-0123456789abcdef.sock";
  endpoints[1].state = "stale (nobody listens)";
  const std::string table = ListTable("/d", endpoints);
  for (const std::string& line : Lines(table)) {
    EXPECT_LE(line.size(), static_cast<size_t>(kMaxWidth)) << line;
  }
  const std::vector<std::string> lines = Lines(table);
  ASSERT_EQ(lines.size(), 4u) << table;
  EXPECT_EQ(lines[0], "endpoint directory /d");
  EXPECT_TRUE(absl::StartsWith(lines[1], "ENDPOINT ")) << lines[1];
  EXPECT_NE(lines[2].find("[::]:50051"), std::string::npos) << lines[2];
  EXPECT_NE(lines[2].find("4242"), std::string::npos) << lines[2];
  EXPECT_TRUE(absl::EndsWith(lines[2], "serving")) << lines[2];
  EXPECT_TRUE(absl::EndsWith(lines[3], "stale (nobody listens)")) << lines[3];
  EXPECT_EQ(ListTable("/d", {}), "endpoint directory /d\n(no endpoints)\n");
}

TEST(WhyReportTest, WrapsTheExplanation) {
  PathDiagnosis d;
  d.reason = PathReason::kNoEndpoint;
  d.endpoint = "/tmp/shmrpc-1000/port-50051.sock";
  d.message = std::string(300, 'x').replace(100, 1, " ").replace(200, 1, " ");
  const std::string report = WhyReport("localhost:50051", d);
  const std::vector<std::string> lines = Lines(report);
  EXPECT_EQ(lines[0], "target:   localhost:50051");
  EXPECT_EQ(lines[1], "path:     gRPC");
  EXPECT_EQ(lines[2], "reason:   no-endpoint");
  EXPECT_EQ(lines[3], "endpoint: /tmp/shmrpc-1000/port-50051.sock");
  EXPECT_TRUE(absl::StartsWith(lines[4], "why:      x")) << lines[4];
  EXPECT_EQ(lines.size(), 7u) << report;  // three long words, three lines
}

}  // namespace
}  // namespace shmrpc::cli

namespace shmrpc::cli {
namespace {

TEST(PrintableTest, EscapesControlBytesFromPeers) {
  EXPECT_EQ(Printable("plain text, ünïcode"), "plain text, ünïcode");
  EXPECT_EQ(Printable("a\nb\x1b[2Jc\x7f"), "a\\x0ab\\x1b[2Jc\\x7f");
  EXPECT_EQ(Printable("a\nb\tc", /*keep_newlines=*/true), "a\nb\\x09c");
}

}  // namespace
}  // namespace shmrpc::cli
