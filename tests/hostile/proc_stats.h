// What a process costs, read from /proc/<pid>: the numbers the hostile-peer
// and fault tests compare against a baseline (open fds, threads, resident
// memory, CPU time, shared-memory mappings).
#ifndef SHMRPC_TESTS_HOSTILE_PROC_STATS_H_
#define SHMRPC_TESTS_HOSTILE_PROC_STATS_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>

namespace shmrpc::testing {

// One reading. Plain value. A field is -1 if it could not be read (the
// process is gone).
struct ProcStats {
  int fds = -1;            // entries of /proc/<pid>/fd
  int threads = -1;        // entries of /proc/<pid>/task
  int64_t rss_kib = -1;    // VmRSS
  int64_t cpu_ticks = -1;  // utime + stime, in clock ticks
  int shm_mappings = -1;   // lines of /proc/<pid>/maps naming a shmrpc memfd

  std::string ToString() const;
};

// Reads everything above. Thread-safe.
ProcStats ReadProcStats(pid_t pid);

// Single fields (cheaper when polled every millisecond).
int CountFds(pid_t pid);
int CountThreads(pid_t pid);
int64_t ReadRssKib(pid_t pid);
// VmHWM: the highest VmRSS the process has had.
int64_t ReadHwmKib(pid_t pid);
int64_t ReadCpuTicks(pid_t pid);
int CountShmMappings(pid_t pid);

// For each thread alive now, the time it has been runnable, in ns: on a CPU
// plus waiting for one (/proc/<pid>/task/<tid>/schedstat). Unlike CPU time
// this does not depend on how loaded the machine is: a thread that spins is
// runnable all the time, even when it gets little CPU.
std::map<pid_t, int64_t> ReadRunnableNs(pid_t pid);

// Clock ticks per second (sysconf(_SC_CLK_TCK)).
int64_t TicksPerSecond();

// True while /proc/<pid> exists and the process is not a zombie.
bool ProcessAlive(pid_t pid);

}  // namespace shmrpc::testing

#endif  // SHMRPC_TESTS_HOSTILE_PROC_STATS_H_
