#include "tests/hostile/victim.h"

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "tests/rpc/echo_service.h"

namespace shmrpc::testing {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

int64_t MonotonicNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             steady_clock::now().time_since_epoch())
      .count();
}

namespace {

// The value of "key=" in a line of space-separated key=value pairs.
std::string Field(const std::string& line, const std::string& key) {
  const std::string needle = " " + key + "=";
  const size_t at = (" " + line).find(needle);
  if (at == std::string::npos) return "";
  const size_t start = at + needle.size() - 1;
  const size_t end = line.find(' ', start);
  return line.substr(
      start, end == std::string::npos ? std::string::npos : end - start);
}

}  // namespace

// ---- VictimProcess ---------------------------------------------------------

VictimProcess::VictimProcess(const std::string& binary,
                             std::vector<std::string> flags) {
  std::vector<std::string> argv = {binary};
  argv.insert(argv.end(), flags.begin(), flags.end());
  process_ = std::make_unique<Subprocess>(argv);
  reader_ = std::thread([this] { ReadLines(); });
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, milliseconds(20000),
               [&] { return port_ > 0 || exited_.load(); });
}

VictimProcess::~VictimProcess() {
  if (!reaped_) {
    process_->Kill(SIGKILL);
    process_->Wait(milliseconds(10000));
  }
  stop_.store(true);
  reader_.join();
}

void VictimProcess::ReadLines() {
  while (!stop_.load()) {
    std::optional<std::string> line =
        process_->WaitForPrefix("", milliseconds(20));
    if (!line) {
      // Timeout, or the end of its output (then poll returns at once).
      if (!ProcessAlive(process_->pid())) exited_.store(true);
      std::this_thread::sleep_for(milliseconds(1));
      cv_.notify_all();
      continue;
    }
    std::lock_guard<std::mutex> lock(mu_);
    output_ += *line + "\n";
    if (line->rfind("pid ", 0) == 0) {
      printed_pid_ = std::atoi(line->c_str() + 4);
    } else if (line->rfind("ready ", 0) == 0) {
      std::istringstream in(line->substr(6));
      int port = 0;
      in >> port >> endpoint_;
      port_ = port;
    } else if (line->rfind("stats ", 0) == 0) {
      VictimStats s;
      s.live = std::atoi(Field(*line, "live").c_str());
      s.threads = std::atoi(Field(*line, "threads").c_str());
      s.accepted = std::strtoull(Field(*line, "accepted").c_str(), nullptr, 10);
      s.t_ns = std::strtoll(Field(*line, "t").c_str(), nullptr, 10);
      stats_.push_back(s);
    } else if (line->rfind("handler ", 0) == 0) {
      HandlerEvent e;
      e.start = line->rfind("handler start", 0) == 0;
      e.cancelled = Field(*line, "cancelled") == "1";
      e.t_ns = std::strtoll(Field(*line, "t").c_str(), nullptr, 10);
      handlers_.push_back(e);
    }
    cv_.notify_all();
  }
}

VictimStats VictimProcess::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_.empty() ? VictimStats{} : stats_.back();
}

VictimStats VictimProcess::WaitForStats(
    const std::function<bool(const VictimStats&)>& pred,
    milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout,
               [&] { return !stats_.empty() && pred(stats_.back()); });
  return stats_.empty() ? VictimStats{} : stats_.back();
}

std::optional<VictimStats> VictimProcess::FirstStatsAfter(
    int64_t since_ns, const std::function<bool(const VictimStats&)>& pred,
    milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  std::optional<VictimStats> found;
  cv_.wait_for(lock, timeout, [&] {
    for (const VictimStats& s : stats_) {
      if (s.t_ns >= since_ns && pred(s)) {
        found = s;
        return true;
      }
    }
    return false;
  });
  return found;
}

std::vector<HandlerEvent> VictimProcess::handler_events() const {
  std::lock_guard<std::mutex> lock(mu_);
  return handlers_;
}

bool VictimProcess::WaitForHandlers(int starts, int ends,
                                    milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] {
    int s = 0, e = 0;
    for (const HandlerEvent& h : handlers_) (h.start ? s : e)++;
    return s >= starts && e >= ends;
  });
}

std::string VictimProcess::output() const {
  std::lock_guard<std::mutex> lock(mu_);
  return output_;
}

int64_t VictimProcess::Kill(int signal) {
  const int64_t now = MonotonicNs();
  process_->Kill(signal);
  return now;
}

int VictimProcess::ExitCode(milliseconds timeout) {
  if (reaped_) return exit_code_;
  exit_code_ = process_->ExitCode(timeout);
  reaped_ = exit_code_ != -1;
  return exit_code_;
}

bool VictimProcess::alive() const { return ProcessAlive(process_->pid()); }

// ---- HonestClient
// ------------------------------------------------------------

ShmChannelOptions HonestOptions() {
  ShmChannelOptions o;
  o.mode = ShmMode::kRequired;
  o.connect_timeout = milliseconds(1000);
  o.initial_backoff = milliseconds(50);
  o.max_backoff = milliseconds(200);
  return o;
}

HonestClient::HonestClient(const std::string& target,
                           const ShmChannelOptions& options)
    : channel_(grpc::CreateChannel(
          target,
          ShmChannelCredentials(grpc::InsecureChannelCredentials(), options))),
      stub_(ShmEchoService::NewStub(channel_)),
      grpc_stub_(EchoService::NewStub(channel_)) {}

ProbeResult HonestClient::Probe(int i, milliseconds deadline) {
  static const size_t kSizes[] = {64, 4096, 100000};
  std::string payload(kSizes[i % 3], '\0');
  uint32_t x = static_cast<uint32_t>(i) * 2654435761u + 17;
  for (char& c : payload) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  EchoRequest request;
  request.set_checksum(PayloadChecksum(payload));
  request.set_payload(payload);
  EchoResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + deadline);
  const auto start = steady_clock::now();
  const grpc::Status status =
      (i % 2 == 0) ? stub_->Echo(&context, request, &response)
                   : grpc_stub_->Echo(&context, request, &response);
  ProbeResult r;
  r.took =
      std::chrono::duration_cast<milliseconds>(steady_clock::now() - start);
  const char* stub = (i % 2 == 0) ? "generated stub" : "gRPC stub";
  if (!status.ok()) {
    r.error = std::string(stub) + ": status " +
              std::to_string(status.error_code()) + " '" +
              status.error_message() + "'";
  } else if (response.payload() != payload ||
             response.checksum() != request.checksum()) {
    r.error = std::string(stub) + ": wrong payload";
  } else if (!response.shared_memory()) {
    r.error = std::string(stub) + ": not over shared memory";
  } else {
    r.ok = true;
  }
  return r;
}

// ---- Prober ----------------------------------------------------------------

Prober::Prober(HonestClient* persistent, std::string target, bool fresh,
               milliseconds deadline)
    : persistent_(persistent),
      target_(std::move(target)),
      fresh_(fresh),
      deadline_(deadline) {
  thread_ = std::thread([this] {
    for (int i = 0; !stop_.load(); ++i) {
      if (paused_.load()) {
        std::this_thread::sleep_for(milliseconds(10));
        continue;
      }
      const bool fresh = fresh_ && i % 5 == 4;
      // A new channel first connects (handshake, method table): it gets
      // a second more, all of it for the connection attempt.
      const milliseconds deadline =
          fresh ? deadline_ + milliseconds(1000) : deadline_;
      ProbeResult r;
      if (fresh) {
        ShmChannelOptions o = HonestOptions();
        o.connect_timeout = deadline_;
        HonestClient client(target_, o);
        r = client.Probe(i, deadline);
      } else {
        r = persistent_->Probe(i, deadline);
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++probes_;
        max_latency_ = std::max(max_latency_, r.took);
        // A call must end by its deadline (with a little slack for a
        // loaded machine), whatever its outcome.
        if (r.took > deadline + milliseconds(500)) {
          r.ok = false;
          r.error +=
              " (overran its deadline: " + std::to_string(r.took.count()) +
              " ms)";
        }
        if (!r.ok) {
          if (++failures_ <= 10) {
            log_ += std::string(fresh ? "new channel, " : "") + "probe " +
                    std::to_string(i) + " after " +
                    std::to_string(r.took.count()) + " ms: " + r.error + "\n";
          }
        }
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
  });
}

Prober::~Prober() { Stop(); }

void Prober::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

int Prober::probes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return probes_;
}

int Prober::failures() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failures_;
}

milliseconds Prober::max_latency() const {
  std::lock_guard<std::mutex> lock(mu_);
  return max_latency_;
}

std::string Prober::failure_log() const {
  std::lock_guard<std::mutex> lock(mu_);
  return log_;
}

// ---- Baseline
// ----------------------------------------------------------------

Baseline TakeBaseline(const VictimProcess& victim) {
  Baseline b;
  b.proc = ReadProcStats(victim.pid());
  const auto end = steady_clock::now() + milliseconds(5000);
  while (steady_clock::now() < end) {
    std::this_thread::sleep_for(milliseconds(300));
    const ProcStats now = ReadProcStats(victim.pid());
    const bool still = now.fds == b.proc.fds && now.threads == b.proc.threads;
    b.proc = now;
    if (still) break;
  }
  b.shm = victim.stats();
  return b;
}

std::string WaitForBaseline(const VictimProcess& victim, const Baseline& base,
                            int thread_slack, int64_t rss_slack_kib,
                            milliseconds timeout) {
  const auto end = steady_clock::now() + timeout;
  std::string off;
  for (;;) {
    const ProcStats now = ReadProcStats(victim.pid());
    const VictimStats shm = victim.stats();
    off.clear();
    if (now.fds < 0) {
      off = "the victim is gone";
    } else {
      if (now.fds > base.proc.fds) {
        off += "fds " + std::to_string(now.fds) + " (baseline " +
               std::to_string(base.proc.fds) + "); ";
      }
      // Each connection maps three memfds (control, both data segments);
      // they are unmapped when the connection, and every chunk it had lent
      // or borrowed, is gone.
      if (now.shm_mappings > base.proc.shm_mappings) {
        off += "shared-memory mappings " + std::to_string(now.shm_mappings) +
               " (baseline " + std::to_string(base.proc.shm_mappings) + "); ";
      }
      if (now.threads > base.proc.threads + thread_slack) {
        off += "threads " + std::to_string(now.threads) + " (baseline " +
               std::to_string(base.proc.threads) + " + " +
               std::to_string(thread_slack) + "); ";
      }
      if (now.rss_kib > base.proc.rss_kib + rss_slack_kib) {
        off += "VmRSS " + std::to_string(now.rss_kib) + " KiB (baseline " +
               std::to_string(base.proc.rss_kib) + " + " +
               std::to_string(rss_slack_kib) + "); ";
      }
      if (shm.live != base.shm.live) {
        off += "live connections " + std::to_string(shm.live) + " (baseline " +
               std::to_string(base.shm.live) + "); ";
      }
      // A connection keeps a spare serving thread for a while after a
      // burst (it retires after ~10 idle seconds), so one more than the
      // baseline is not a leak.
      if (shm.threads > base.shm.threads + 1) {
        off += "serving threads " + std::to_string(shm.threads) +
               " (baseline " + std::to_string(base.shm.threads) + " + 1); ";
      }
    }
    if (off.empty() || steady_clock::now() >= end) return off;
    std::this_thread::sleep_for(milliseconds(20));
  }
}

}  // namespace shmrpc::testing
