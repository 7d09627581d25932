// run-until: R1's stopwatch, the same for the worker and the raw copy.
// Spawns the command after `--`, polls the end offsets of --topic every
// --poll-ms, and stops the command with SIGTERM once they add up to --expect
// messages (or --timeout-s passes). Prints one JSON object:
//   seconds          spawn -> all outputs written (includes start-up)
//   steady_seconds   first output seen -> all outputs written
//   cpu_seconds      user + system CPU of the command (from wait4)
// --topic must start empty; it is polled by a client of this process, one
// ListOffsets request per poll.
//
// With --committed-group G --sources T1[,T2...] (R2's stopwatch, for jobs
// whose output count is not their input count: windows, joins) the goal is
// instead that group G's committed offsets on every partition of the source
// topics reach the sources' end offsets as read at the start (every input
// processed, its outputs and state acknowledged, its offset committed); one
// OffsetFetch per poll. --expect then defaults to the sources' message count,
// `steady_seconds` runs from the first committed input, `written` is what
// the command wrote to --topic.

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
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
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

std::vector<std::string> SplitCommas(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// Committed offsets of a consumer group: a consumer handle with that group.id
// that never joins the group (the workers assign partitions manually) and
// asks the coordinator with OffsetFetch.
class CommittedOffsets {
 public:
  CommittedOffsets(const std::string& bootstrap, const std::string& group,
                   const std::vector<std::pair<std::string, int32_t>>& topics) {
    rk_ = NewClient(RD_KAFKA_CONSUMER, ConsumerProperties(bootstrap, group));
    int n = 0;
    for (const auto& t : topics) n += t.second;
    list_ = rd_kafka_topic_partition_list_new(n);
    for (const auto& [topic, partitions] : topics) {
      for (int32_t p = 0; p < partitions; ++p) {
        rd_kafka_topic_partition_list_add(list_, topic.c_str(), p);
      }
    }
  }
  ~CommittedOffsets() {
    rd_kafka_topic_partition_list_destroy(list_);
    rd_kafka_destroy(rk_);
  }
  CommittedOffsets(const CommittedOffsets&) = delete;
  CommittedOffsets& operator=(const CommittedOffsets&) = delete;

  // Sum over the partitions (none committed yet counts 0).
  Result<int64_t> Sum() {
    rd_kafka_resp_err_t err = rd_kafka_committed(rk_, list_, 5000);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::Unavailable(std::string("committed offsets: ") + rd_kafka_err2str(err));
    }
    int64_t sum = 0;
    for (int i = 0; i < list_->cnt; ++i) {
      if (list_->elems[i].offset > 0) sum += list_->elems[i].offset;
    }
    return sum;
  }

 private:
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_topic_partition_list_t* list_ = nullptr;
};

double CpuSeconds(const rusage& u) {
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int RunUntil(const Flags& flags) {
  const std::string topic = flags.Str("topic");
  const bool by_commit = flags.Has("committed-group");
  if (by_commit && !flags.Has("sources")) {
    std::fprintf(stderr, "run-until: --committed-group needs --sources T1[,T2...]\n");
    return 2;
  }
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
  // --committed-group: the sources and their message count.
  std::unique_ptr<CommittedOffsets> committed;
  int64_t source_messages = 0;
  if (by_commit) {
    std::vector<std::pair<std::string, int32_t>> sources;
    for (const std::string& s : SplitCommas(flags.Str("sources"))) {
      auto n = PartitionCount(rk, s);
      auto end = n.ok() ? EndOffsetSum(rk, s, *n) : Result<int64_t>(n.status());
      if (!end.ok()) {
        std::fprintf(stderr, "run-until: source %s: %s\n", s.c_str(),
                     end.status().message().c_str());
        return 1;
      }
      sources.emplace_back(s, *n);
      source_messages += *end;
    }
    committed = std::make_unique<CommittedOffsets>(flags.Str("bootstrap"),
                                                   flags.Str("committed-group"), sources);
    auto already = committed->Sum();
    if (!already.ok() || *already != 0) {
      std::fprintf(stderr, "run-until: group %s must have no committed offsets yet\n",
                   flags.Str("committed-group").c_str());
      return 1;
    }
  }
  const int64_t expect = by_commit ? flags.Int("expect", source_messages) : flags.Int("expect");

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
    auto sum = by_commit ? committed->Sum() : EndOffsetSum(rk, topic, *partitions);
    const double now = MonotonicSeconds();
    if (!sum.ok()) {
      std::fprintf(stderr, "run-until: %s\n", sum.status().message().c_str());
    } else {
      if (!by_commit) written = *sum;
      if (*sum > 0 && first_output < 0) first_output = now;
      if (*sum >= expect) done = now;
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
              "\"output_truncated\":%s,\"until\":\"%s\",\"error\":\"%s\"}\n",
              done > 0 ? "true" : "false", expect, final_written, seconds, steady,
              seconds > 0 ? static_cast<double>(expect) / seconds : 0.0,
              steady > 0 ? static_cast<double>(expect) / steady : 0.0, cpu,
              cpu > 0 ? static_cast<double>(expect) / cpu : 0.0, truncated ? "true" : "false",
              by_commit ? "inputs committed" : "outputs written", failure.c_str());
  return done > 0 ? 0 : 1;
}

}  // namespace usp::bench
