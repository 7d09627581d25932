// run-until: R1's stopwatch, the same for the worker and the raw copy.
// Spawns the command after `--`, polls the end offsets of --topic every
// --poll-ms, and stops the command with SIGTERM once they add up to --expect
// messages (or --timeout-s passes). Prints one JSON object:
//   seconds          spawn -> all outputs written (includes start-up)
//   steady_seconds   first output seen -> all outputs written
//   cpu_seconds      user + system CPU of the command (from wait4)
// --topic must start empty; it is polled by a client of this process, one
// ListOffsets request per poll.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bench/kafka_tools.h"

extern char** environ;

namespace usp::bench {
namespace {

// Waits up to `seconds` for `pid`, then SIGKILLs it. Returns its rusage.
rusage Reap(pid_t pid, double seconds, int* status) {
  rusage usage{};
  const double deadline = MonotonicSeconds() + seconds;
  for (;;) {
    pid_t r = wait4(pid, status, WNOHANG, &usage);
    if (r == pid) return usage;
    if (MonotonicSeconds() > deadline) {
      kill(pid, SIGKILL);
      wait4(pid, status, 0, &usage);
      return usage;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

double CpuSeconds(const rusage& u) {
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int RunUntil(const Flags& flags) {
  const std::string topic = flags.Str("topic");
  const int64_t expect = flags.Int("expect");
  const double timeout_s = static_cast<double>(flags.Int("timeout-s", 300));
  const int poll_ms = static_cast<int>(flags.Int("poll-ms", 20));
  if (flags.rest().empty()) {
    std::fprintf(stderr, "run-until: no command after --\n");
    return 2;
  }

  rd_kafka_t* rk = NewClient(RD_KAFKA_PRODUCER, ProducerProperties(flags.Str("bootstrap")));
  auto partitions = PartitionCount(rk, topic);
  if (!partitions.ok()) {
    std::fprintf(stderr, "run-until: %s\n", partitions.status().message().c_str());
    return 1;
  }
  auto initial = EndOffsetSum(rk, topic, *partitions);
  if (!initial.ok() || *initial != 0) {
    std::fprintf(stderr, "run-until: %s must exist and be empty\n", topic.c_str());
    return 1;
  }

  std::vector<char*> argv;
  for (const std::string& a : flags.rest()) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (flags.Has("child-log")) {
    const std::string log = flags.Str("child-log");
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  }
  const double start = MonotonicSeconds();
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    std::fprintf(stderr, "run-until: cannot start %s: %s\n", argv[0], std::strerror(rc));
    return 1;
  }

  double first_output = -1;
  double done = -1;
  int64_t written = 0;
  std::string failure;
  while (done < 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      failure = "the command exited early (status " + std::to_string(status) + ")";
      pid = 0;
      break;
    }
    auto sum = EndOffsetSum(rk, topic, *partitions);
    const double now = MonotonicSeconds();
    if (!sum.ok()) {
      std::fprintf(stderr, "run-until: %s\n", sum.status().message().c_str());
    } else {
      written = *sum;
      if (written > 0 && first_output < 0) first_output = now;
      if (written >= expect) done = now;
    }
    if (done < 0 && now - start > timeout_s) {
      failure = "timed out after " + std::to_string(timeout_s) + " s";
      break;
    }
  }

  double cpu = 0;
  if (pid != 0) {
    kill(pid, SIGTERM);
    int status = 0;
    cpu = CpuSeconds(Reap(pid, 15, &status));
  }
  // Anything written after the goal was reached (duplicates) and whether the
  // broker dropped part of the output log.
  auto final_offsets = QueryOffsets(rk, topic, *partitions);
  rd_kafka_destroy(rk);
  const int64_t final_written = final_offsets.ok() ? final_offsets->HighSum() : written;
  const bool truncated = final_offsets.ok() && final_offsets->Truncated();

  const double seconds = done > 0 ? done - start : 0;
  const double steady = done > 0 && first_output > 0 ? done - first_output : 0;
  std::printf("{\"complete\":%s,\"expect\":%" PRId64 ",\"written\":%" PRId64
              ",\"seconds\":%.3f,\"steady_seconds\":%.3f,\"events_per_s\":%.0f,"
              "\"steady_events_per_s\":%.0f,\"cpu_seconds\":%.3f,\"events_per_cpu_s\":%.0f,"
              "\"output_truncated\":%s,\"error\":\"%s\"}\n",
              done > 0 ? "true" : "false", expect, final_written, seconds, steady,
              seconds > 0 ? static_cast<double>(expect) / seconds : 0.0,
              steady > 0 ? static_cast<double>(expect) / steady : 0.0, cpu,
              cpu > 0 ? static_cast<double>(expect) / cpu : 0.0, truncated ? "true" : "false",
              failure.c_str());
  return done > 0 ? 0 : 1;
}

}  // namespace usp::bench
