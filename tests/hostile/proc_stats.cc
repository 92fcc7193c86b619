#include "tests/hostile/proc_stats.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace shmrpc::testing {
namespace {

std::string ProcPath(pid_t pid, const char* what) {
  return "/proc/" + std::to_string(pid) + "/" + what;
}

int CountEntries(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return -1;
  int n = 0;
  while (struct dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
      ++n;
    }
  }
  ::closedir(d);
  return n;
}

// The fields of /proc/<pid>/stat after the command name (which may hold
// spaces and parentheses, so the line is split at its last ')').
bool StatFields(pid_t pid, std::string* state, int64_t* utime, int64_t* stime) {
  std::ifstream in(ProcPath(pid, "stat"));
  std::string line;
  if (!std::getline(in, line)) return false;
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream rest(line.substr(close + 1));
  // Fields 3.. : state ppid pgrp session tty_nr tpgid flags minflt cminflt
  // majflt cmajflt utime stime.
  std::string skip;
  rest >> *state;
  for (int i = 0; i < 10; ++i) rest >> skip;
  rest >> *utime >> *stime;
  return static_cast<bool>(rest);
}

// A "Key:   N kB" line of /proc/<pid>/status.
int64_t StatusKib(pid_t pid, const std::string& key) {
  std::ifstream in(ProcPath(pid, "status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) {
      return std::strtoll(line.c_str() + key.size(), nullptr, 10);
    }
  }
  return -1;
}

}  // namespace

std::string ProcStats::ToString() const {
  return "fds=" + std::to_string(fds) + " threads=" + std::to_string(threads) +
         " rss_kib=" + std::to_string(rss_kib) +
         " cpu_ticks=" + std::to_string(cpu_ticks) +
         " shm_mappings=" + std::to_string(shm_mappings);
}

int CountFds(pid_t pid) { return CountEntries(ProcPath(pid, "fd")); }

int CountThreads(pid_t pid) { return CountEntries(ProcPath(pid, "task")); }

int64_t ReadRssKib(pid_t pid) { return StatusKib(pid, "VmRSS:"); }

int64_t ReadHwmKib(pid_t pid) { return StatusKib(pid, "VmHWM:"); }

int64_t ReadCpuTicks(pid_t pid) {
  std::string state;
  int64_t utime = 0, stime = 0;
  if (!StatFields(pid, &state, &utime, &stime)) return -1;
  return utime + stime;
}

int CountShmMappings(pid_t pid) {
  std::ifstream in(ProcPath(pid, "maps"));
  if (!in) return -1;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    if (line.find("memfd:shmrpc") != std::string::npos) ++n;
  }
  return n;
}

std::map<pid_t, int64_t> ReadRunnableNs(pid_t pid) {
  std::map<pid_t, int64_t> out;
  const std::string dir = ProcPath(pid, "task");
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(dir + "/" + e->d_name + "/schedstat");
    int64_t on_cpu = 0, waiting = 0;
    if (in >> on_cpu >> waiting) {
      out[static_cast<pid_t>(std::atoi(e->d_name))] = on_cpu + waiting;
    }
  }
  ::closedir(d);
  return out;
}

int64_t TicksPerSecond() { return ::sysconf(_SC_CLK_TCK); }

bool ProcessAlive(pid_t pid) {
  std::string state;
  int64_t utime = 0, stime = 0;
  if (!StatFields(pid, &state, &utime, &stime)) return false;
  return state != "Z" && state != "X";
}

ProcStats ReadProcStats(pid_t pid) {
  ProcStats s;
  s.fds = CountFds(pid);
  s.threads = CountThreads(pid);
  s.rss_kib = ReadRssKib(pid);
  s.cpu_ticks = ReadCpuTicks(pid);
  s.shm_mappings = CountShmMappings(pid);
  return s;
}

}  // namespace shmrpc::testing
