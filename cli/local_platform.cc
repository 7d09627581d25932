#include "cli/local_platform.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cli/child_process.h"
#include "cli/event_generator.h"
#include "runtime/http/http_client.h"
#include "cli/topic_admin.h"
#include "core/join/left_join.h"
#include "core/resource_loader.h"
#include "runtime/common/files.h"
#include "runtime/common/shutdown.h"
#include "runtime/control/job_controller.h"
#include "runtime/kafka/embedded_kafka.h"
#include "runtime/join/left_join_processor.h"
#include "runtime/kafka/kafka_client.h"
#include "runtime/state/changelog_reader.h"

namespace usp {

namespace fs = std::filesystem;
using Steady = std::chrono::steady_clock;

namespace {

int64_t WallNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One supervised process: its command line stays fixed across restarts.
struct Supervised {
  std::string name;  // "serve", "worker/searches-0"
  std::string role;  // "query" | "worker"
  std::string job;   // resource name for workers
  std::string worker_id;  // "searches-0": the id the job's controller knows it by
  std::vector<std::string> argv;
  std::string log_path;
  std::string port_file;
  std::optional<ChildProcess> process;
  int port = 0;
  int restarts = 0;
  std::deque<Steady::time_point> recent_restarts;
  Steady::time_point restart_at{};
};

// One job of any kind, as local mode runs it: the worker processes, the
// topics it needs and its controller's parameters.
struct LocalJob {
  std::string kind;  // UserSignal | UserSegment | SessionJob
  std::string name;
  nlohmann::json config;                   // the normalized resource, given to the workers
  std::vector<std::string> source_topics;  // the controller's partitions come from these
  std::vector<std::string> topics;         // every topic to create (sources, outputs, ...)
  std::vector<std::string> compacted_topics;  // changelogs
  std::vector<std::string> worker_args;    // extra `usp-runtime worker` flags
  bool stateful = false;
  int32_t parallelism = 1;
  int32_t standby_replicas = 1;
  FailoverSpec failover;
};

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string LastLines(const std::string& path, size_t n) {
  std::string text = ReadFile(path);
  std::vector<std::string> lines;
  std::stringstream ss(text);
  for (std::string line; std::getline(ss, line);) lines.push_back(line);
  std::string out;
  for (size_t i = lines.size() > n ? lines.size() - n : 0; i < lines.size(); ++i) {
    out += "    " + lines[i] + "\n";
  }
  return out;
}

std::string DefaultRuntimePath() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  fs::path beside = self.parent_path() / "usp-runtime";
  if (!ec && fs::exists(beside)) return beside.string();
  // Build tree layout: build/cli/uspctl and build/runtime/usp-runtime.
  fs::path build_tree = self.parent_path().parent_path() / "runtime" / "usp-runtime";
  if (!ec && fs::exists(build_tree)) return build_tree.string();
  return "usp-runtime";
}

class LocalPlatform {
 public:
  explicit LocalPlatform(LocalOptions options) : options_(std::move(options)) {}
  int Run();

 private:
  Status LoadResources();
  Status StartKafka();
  Status StartProcesses();
  Status Spawn(Supervised& s);
  Status WaitReady();
  Status StartControllers();
  Status WaitAssigned();
  Status WriteProcessesFile();
  void WriteAssignmentsFile();
  void OnFailover(const FailoverRecord& record, const std::string& job);
  void Supervise();
  void Shutdown();

  LocalOptions options_;
  fs::path state_;
  std::vector<UserSignal> signals_;
  std::vector<LocalJob> jobs_;  // signals first, then segments and session jobs
  std::unique_ptr<EmbeddedKafka> embedded_;
  std::string bootstrap_;
  std::vector<Supervised> procs_;
  std::unique_ptr<EventGenerator> generator_;
  int query_port_ = 0;
  std::unique_ptr<WorkerClient> worker_client_ = NewHttpWorkerClient();
  std::map<std::string, std::unique_ptr<JobController>> controllers_;  // by job
  std::mutex output_mutex_;  // console lines and state files from controller threads
};

Status LocalPlatform::LoadResources() {
  auto loaded = LoadResourcesFromPath(options_.resources_dir);
  if (!loaded.ok()) return loaded.status();
  bool ok = true;
  for (const auto& r : *loaded) {
    for (const auto& e : r.errors) {
      std::cerr << r.source << ": " << e.ToString() << "\n";
      ok = false;
    }
    if (r.valid() && r.user_signal) signals_.push_back(*r.user_signal);
  }
  if (!ok) return Status::InvalidArgument("invalid resources in " + options_.resources_dir);
  if (signals_.empty()) {
    return Status::InvalidArgument("no UserSignal resources in " + options_.resources_dir);
  }

  std::map<std::string, std::string> signal_topics;  // UserSignal name -> output topic
  std::map<std::string, std::string> names;          // job name -> its source (unique names)
  auto claim = [&](const LoadedResource& r) -> bool {
    auto [it, inserted] = names.emplace(r.name, r.source);
    if (!inserted) {
      std::cerr << r.source << ": metadata.name: \"" << r.name << "\" is also the name of "
                << it->second << "; local mode runs each job under its name, so names must "
                << "be unique across kinds\n";
    }
    return inserted;
  };
  for (const auto& r : *loaded) {
    if (!r.user_signal) continue;
    const UserSignal& s = *r.user_signal;
    if (!claim(r)) ok = false;
    signal_topics[s.metadata.name] = s.spec.output_topic;
    LocalJob j;
    j.kind = "UserSignal";
    j.name = s.metadata.name;
    j.config = ToJson(s);
    j.source_topics = s.SourceTopics();
    j.topics = j.source_topics;
    j.topics.push_back(s.spec.output_topic);
    if (s.spec.on_error == OnError::kDeadLetter) j.topics.push_back(s.spec.dead_letter_topic);
    // spec.lookups: the compacted topics feeding the lookup tables.
    for (const std::string& t : s.LookupTopics()) j.compacted_topics.push_back(t);
    if (s.spec.type == SignalType::kLeftJoin) {
      // Join state in RocksDB with a changelog; re-keyed sources when the
      // join key is not the user id.
      j.stateful = true;
      j.compacted_topics.push_back(ChangelogTopic("UserSignal", s.metadata.name));
      if (NeedsRepartition(s)) {
        j.topics.push_back(RepartitionTopic(s.metadata.name, JoinSide::kLeft));
        j.topics.push_back(RepartitionTopic(s.metadata.name, JoinSide::kRight));
      }
    }
    j.parallelism = s.spec.parallelism;
    j.standby_replicas = s.spec.standby_replicas;
    j.failover = s.spec.failover;
    jobs_.push_back(std::move(j));
  }
  // Segments and session jobs consume the output topics of the UserSignals
  // they name: each must be defined in the same directory.
  auto stateful = [&](const LoadedResource& r, const std::vector<std::string>& signals,
                      const std::string& field, const std::string& output_topic,
                      int32_t parallelism, int32_t standby, const FailoverSpec& failover) {
    if (!claim(r)) ok = false;
    LocalJob j;
    j.kind = r.kind;
    j.name = r.name;
    j.stateful = true;
    for (size_t i = 0; i < signals.size(); ++i) {
      auto it = signal_topics.find(signals[i]);
      if (it == signal_topics.end()) {
        std::cerr << r.source << ": " << field << "[" << i << "]: no UserSignal \"" << signals[i]
                  << "\" in " << options_.resources_dir << "\n";
        ok = false;
        continue;
      }
      j.source_topics.push_back(it->second);
      j.worker_args.push_back("--signal-topic");
      j.worker_args.push_back(signals[i] + "=" + it->second);
    }
    j.topics = j.source_topics;
    j.topics.push_back(output_topic);
    j.compacted_topics.push_back(ChangelogTopic(r.kind, r.name));
    j.parallelism = parallelism;
    j.standby_replicas = standby;
    j.failover = failover;
    return j;
  };
  for (const auto& r : *loaded) {
    if (r.user_segment) {
      const UserSegment& g = *r.user_segment;
      LocalJob j = stateful(r, g.TriggerSignals(), "spec.enter.signals", g.spec.output_topic,
                            g.spec.parallelism, g.spec.standby_replicas, g.spec.failover);
      j.config = ToJson(g);
      jobs_.push_back(std::move(j));
    } else if (r.session_job) {
      const SessionJob& g = *r.session_job;
      LocalJob j = stateful(r, g.spec.signals, "spec.signals", g.spec.output_topic,
                            g.spec.parallelism, g.spec.standby_replicas, g.spec.failover);
      j.config = ToJson(g);
      jobs_.push_back(std::move(j));
    }
  }
  if (!ok) return Status::InvalidArgument("invalid resources in " + options_.resources_dir);
  return Status::Ok();
}

Status LocalPlatform::StartKafka() {
  std::vector<TopicSpec> topics;
  std::set<std::string> seen;
  auto add = [&](const std::string& name, bool compacted) {
    if (seen.insert(name).second) topics.push_back({name, options_.partitions, compacted});
  };
  for (const auto& j : jobs_) {
    for (const auto& t : j.topics) add(t, false);
    for (const auto& t : j.compacted_topics) add(t, true);
  }
  if (options_.kafka_bootstrap.empty()) {
    auto kafka = EmbeddedKafka::Start(1);
    if (!kafka.ok()) return kafka.status();
    embedded_ = std::move(kafka).value();
    bootstrap_ = embedded_->bootstrap();
    for (const auto& t : topics) USP_RETURN_IF_ERROR(embedded_->CreateTopic(t.name, t.partitions));
    std::cout << "embedded Kafka broker on " << bootstrap_ << " (" << topics.size()
              << " topics, " << options_.partitions << " partitions each)\n";
  } else {
    bootstrap_ = options_.kafka_bootstrap;
    USP_RETURN_IF_ERROR(CreateTopicsWithAdminApi(bootstrap_, topics));
    std::cout << "using Kafka at " << bootstrap_ << " (" << topics.size() << " topics ensured)\n";
  }
  return Status::Ok();
}

Status LocalPlatform::Spawn(Supervised& s) {
  std::error_code ec;
  fs::remove(s.port_file, ec);  // a stale port must not be mistaken for the new process's
  auto child = ChildProcess::Spawn(s.argv, s.log_path);
  if (!child.ok()) return child.status();
  s.process = std::move(child).value();
  s.port = 0;
  return Status::Ok();
}

Status LocalPlatform::StartProcesses() {
  const std::string runtime =
      options_.runtime_path.empty() ? DefaultRuntimePath() : options_.runtime_path;
  fs::create_directories(state_ / "jobs");
  fs::create_directories(state_ / "logs");
  fs::create_directories(state_ / "store");

  Supervised serve;
  serve.name = "serve";
  serve.role = "query";
  serve.port_file = (state_ / "serve.port").string();
  serve.log_path = (state_ / "logs" / "serve.log").string();
  serve.argv = {runtime, "serve", "--resources", options_.resources_dir, "--bootstrap", bootstrap_,
                "--address", "127.0.0.1", "--port", std::to_string(options_.query_port),
                "--data-dir", (state_ / "store").string(), "--port-file", serve.port_file};
  procs_.push_back(std::move(serve));

  for (const auto& j : jobs_) {
    fs::path config = state_ / "jobs" / (j.name + ".json");
    USP_RETURN_IF_ERROR(WriteFileAtomically(config.string(), j.config.dump(2) + "\n"));
    // parallelism actives + standbyReplicas warm standbys, all started as
    // standbys: the job's controller hands out the partitions.
    const int replicas = j.parallelism + j.standby_replicas;
    for (int i = 0; i < replicas; ++i) {
      Supervised w;
      w.worker_id = j.name + "-" + std::to_string(i);
      w.name = "worker/" + w.worker_id;
      w.role = "worker";
      w.job = j.name;
      w.port_file = (state_ / "jobs" / (w.worker_id + ".port")).string();
      w.log_path = (state_ / "logs" / ("worker-" + w.worker_id + ".log")).string();
      w.argv = {runtime, "worker", "--config", config.string(), "--bootstrap", bootstrap_,
                "--partitions", "none", "--address", "127.0.0.1", "--http-port", "0",
                "--port-file", w.port_file};
      if (j.stateful) {
        // Each worker keeps its own state replica; it survives a restart
        // (the changelog position is stored with it).
        w.argv.push_back("--state-dir");
        w.argv.push_back((state_ / "state" / w.worker_id).string());
      }
      w.argv.insert(w.argv.end(), j.worker_args.begin(), j.worker_args.end());
      for (const auto& plugin : options_.plugins) {
        w.argv.push_back("--plugin");
        w.argv.push_back(fs::absolute(plugin).string());
      }
      procs_.push_back(std::move(w));
    }
  }
  for (auto& p : procs_) USP_RETURN_IF_ERROR(Spawn(p));
  return Status::Ok();
}

Status LocalPlatform::WaitReady() {
  auto deadline = Steady::now() + std::chrono::seconds(options_.ready_timeout_s);
  std::set<std::string> ready;
  auto last_report = Steady::now();
  while (ready.size() < procs_.size()) {
    if (ShutdownRequested()) return Status::Unavailable("interrupted while starting");
    for (auto& p : procs_) {
      if (ready.count(p.name)) continue;
      if (auto st = p.process->Poll()) {
        return Status::Unavailable(p.name + " " + DescribeWaitStatus(*st) + " while starting; " +
                                   "last log lines (" + p.log_path + "):\n" +
                                   LastLines(p.log_path, 15));
      }
      if (p.port == 0) {
        std::string text = ReadFile(p.port_file);
        if (!text.empty()) p.port = std::atoi(text.c_str());
      }
      if (p.port == 0) continue;
      auto r = HttpGet("http://127.0.0.1:" + std::to_string(p.port) + "/readyz", 1000);
      if (r.ok() && r->status == 200) {
        ready.insert(p.name);
        std::cout << "  ready: " << p.name << " (pid " << p.process->pid() << ", port " << p.port
                  << ")\n";
      }
    }
    if (Steady::now() > deadline) {
      std::string waiting;
      for (auto& p : procs_) {
        if (!ready.count(p.name)) waiting += " " + p.name;
      }
      return Status::Unavailable("not ready after " + std::to_string(options_.ready_timeout_s) +
                                 " s:" + waiting + " (logs in " + (state_ / "logs").string() + ")");
    }
    if (Steady::now() - last_report > std::chrono::seconds(5)) {
      std::cout << "  waiting for " << procs_.size() - ready.size() << " process(es)...\n";
      last_report = Steady::now();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Status::Ok();
}

// One JobController per job: the same failover logic as the operator, with
// child processes for pods. Source partition counts come from Kafka metadata.
Status LocalPlatform::StartControllers() {
  ProducerOptions po;
  po.bootstrap = bootstrap_;
  po.client_id = "uspctl-local-metadata";
  auto producer = KafkaProducer::Create(po, nullptr);
  if (!producer.ok()) return producer.status();
  for (const auto& j : jobs_) {
    int32_t partitions = 0;
    for (const auto& topic : j.source_topics) {
      auto n = (*producer)->PartitionCount(topic, 10000);
      if (!n.ok()) return Status::Unavailable("metadata of " + topic + ": " + n.status().message());
      partitions = std::max(partitions, *n);
    }
    JobControllerOptions o;
    o.kind = j.kind;
    o.job = j.name;
    o.num_partitions = partitions;
    o.parallelism = j.parallelism;
    o.policy = {j.failover.probe_interval_ms, j.failover.failure_threshold};
    auto controller = std::make_unique<JobController>(o, worker_client_.get());
    const std::string job = j.name;
    controller->OnFailover([this, job](const FailoverRecord& r) { OnFailover(r, job); });
    controller->OnAssignment([this](const JobControllerSnapshot& snap) {
      {
        std::lock_guard<std::mutex> lock(output_mutex_);
        std::cout << snap.Table() << std::flush;
      }
      WriteAssignmentsFile();
    });
    for (const auto& p : procs_) {
      if (p.job == job && p.port != 0) {
        controller->UpsertWorker(p.worker_id, "http://127.0.0.1:" + std::to_string(p.port));
      }
    }
    controller->Start();
    controllers_[job] = std::move(controller);
  }
  return Status::Ok();
}

// Until every job has its first assignment (its actives are warm).
Status LocalPlatform::WaitAssigned() {
  auto deadline = Steady::now() + std::chrono::seconds(options_.ready_timeout_s);
  while (true) {
    std::string waiting;
    for (const auto& [job, c] : controllers_) {
      if (c->Snapshot().assignment.active.empty()) waiting += " " + job;
    }
    if (waiting.empty()) return Status::Ok();
    if (ShutdownRequested()) return Status::Unavailable("interrupted while assigning partitions");
    if (Steady::now() > deadline) {
      return Status::Unavailable("no partition assignment after " +
                                 std::to_string(options_.ready_timeout_s) + " s for:" + waiting);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void LocalPlatform::OnFailover(const FailoverRecord& r, const std::string& job) {
  std::lock_guard<std::mutex> lock(output_mutex_);
  nlohmann::json line = r.ToJson();
  line["job"] = job;
  if (r.first_output_ms == 0) {
    std::cout << "! failover " << job << ": " << r.worker << " -> "
              << (r.promoted.empty() ? "-" : r.promoted.front()) << " partitions "
              << nlohmann::json(r.partitions).dump() << ": detection " << r.detection_ms()
              << " ms, handover " << r.handover_ms() << " ms (" << r.cause << ")\n"
              << std::flush;
  } else {
    std::cout << "  " << job << ": first output from " << r.promoted.front() << " "
              << r.first_output_ms - r.failed_at_ms << " ms after the failure\n"
              << std::flush;
  }
  // The history, one JSON line per report (handover, then first output).
  std::ofstream(state_ / "failovers.jsonl", std::ios::app) << line.dump() << "\n";
}

void LocalPlatform::WriteAssignmentsFile() {
  nlohmann::json jobs = nlohmann::json::array();
  for (const auto& [job, c] : controllers_) {
    JobControllerSnapshot snap = c->Snapshot();
    nlohmann::json j = {{"kind", snap.kind},
                        {"job", snap.job},
                        {"assignment", snap.AssignmentJson()},
                        {"failovers", snap.failovers},
                        {"table", snap.Table()}};
    if (snap.last_failover) j["lastFailover"] = snap.last_failover->ToJson();
    jobs.push_back(std::move(j));
  }
  std::lock_guard<std::mutex> lock(output_mutex_);
  WriteFileAtomically((state_ / "assignments.json").string(),
                      nlohmann::json{{"jobs", jobs}}.dump(2) + "\n")
      .IgnoreError();
}

Status LocalPlatform::WriteProcessesFile() {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& p : procs_) {
    nlohmann::json j = {{"name", p.name}, {"role", p.role}, {"port", p.port},
                        {"restarts", p.restarts}, {"log", p.log_path}};
    if (!p.job.empty()) j["job"] = p.job;
    if (!p.worker_id.empty()) j["worker"] = p.worker_id;
    j["pid"] = p.process && p.process->running() ? p.process->pid() : 0;
    list.push_back(j);
  }
  return WriteFileAtomically((state_ / "processes.json").string(), nlohmann::json{{"processes", list}}.dump(2));
}

void LocalPlatform::Supervise() {
  constexpr auto kCrashWindow = std::chrono::seconds(30);
  constexpr size_t kCrashesBeforeBackoff = 5;
  auto last_assignments_write = Steady::now();
  while (!ShutdownRequested()) {
    bool changed = false;
    for (auto& p : procs_) {
      if (p.process->running()) {
        if (auto st = p.process->Poll()) {
          if (auto c = controllers_.find(p.job); c != controllers_.end()) {
            c->second->ReportFailure(p.worker_id, "process exited: " + DescribeWaitStatus(*st),
                                     WallNowMs());
          }
          std::lock_guard<std::mutex> lock(output_mutex_);
          std::cout << "! " << p.name << " (pid " << p.process->pid() << ") "
                    << DescribeWaitStatus(*st) << "; restarting\n";
          auto now = Steady::now();
          p.recent_restarts.push_back(now);
          while (!p.recent_restarts.empty() && now - p.recent_restarts.front() > kCrashWindow) {
            p.recent_restarts.pop_front();
          }
          // A crash loop gets a growing pause instead of a busy respawn.
          p.restart_at = now;
          if (p.recent_restarts.size() >= kCrashesBeforeBackoff) {
            p.restart_at += std::chrono::seconds(5);
            std::cout << "  " << p.name << " crashed " << p.recent_restarts.size()
                      << " times in 30 s; waiting 5 s (log: " << p.log_path << ")\n";
          }
          changed = true;
        }
        continue;
      }
      if (Steady::now() >= p.restart_at) {
        Status s = Spawn(p);
        if (!s.ok()) {
          std::cerr << "cannot restart " << p.name << ": " << s.ToString() << "\n";
          p.restart_at = Steady::now() + std::chrono::seconds(1);
          continue;
        }
        ++p.restarts;
        changed = true;
        std::lock_guard<std::mutex> lock(output_mutex_);
        std::cout << "  restarted " << p.name << " (pid " << p.process->pid() << ")"
                  << (p.worker_id.empty() ? "" : ", it rejoins as a standby") << "\n";
      }
    }
    for (auto& p : procs_) {
      if (p.port == 0 && p.process->running()) {
        std::string text = ReadFile(p.port_file);
        if (!text.empty()) {
          p.port = std::atoi(text.c_str());
          changed = true;
          if (auto c = controllers_.find(p.job); c != controllers_.end()) {
            c->second->UpsertWorker(p.worker_id, "http://127.0.0.1:" + std::to_string(p.port));
          }
        }
      }
    }
    if (changed) WriteProcessesFile().IgnoreError();
    if (Steady::now() - last_assignments_write > std::chrono::seconds(1)) {
      WriteAssignmentsFile();  // warmth and lag change between assignments
      last_assignments_write = Steady::now();
    }
    // A dead worker is noticed within 10 ms: detection is part of failover time.
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void LocalPlatform::Shutdown() {
  std::cout << "shutting down...\n";
  if (generator_) {
    generator_->Stop();
    std::cout << "  event generator stopped after " << generator_->produced() << " events\n";
  }
  std::error_code ec;
  fs::remove(state_ / "endpoints.json", ec);
  // Controllers first, so that stopping workers is not mistaken for failures.
  for (auto& [job, c] : controllers_) c->Stop();
  // Workers first (they flush and commit), then the query service.
  for (auto it = procs_.rbegin(); it != procs_.rend(); ++it) {
    if (!it->process) continue;
    int st = it->process->Stop(std::chrono::seconds(10));
    std::cout << "  " << it->name << " " << DescribeWaitStatus(st) << "\n";
  }
  embedded_.reset();
  std::cout << "stopped\n";
}

int LocalPlatform::Run() {
  InstallShutdownHandlers();
  // The console shows curated lines (assignment tables, failovers); library
  // logs below errors would only repeat them (the workers log to logs/).
  spdlog::set_level(spdlog::level::err);
  state_ = fs::absolute(options_.state_dir);
  fs::create_directories(state_);
  Status s = LoadResources();
  if (!s.ok()) {
    std::cerr << "uspctl local: " << s.message() << "\n";
    return 2;
  }
  std::map<std::string, int> kinds;
  for (const auto& j : jobs_) ++kinds[j.kind];
  std::cout << "loaded";
  for (const auto& [kind, n] : kinds) std::cout << " " << n << " " << kind;
  std::cout << " resource(s) from " << options_.resources_dir << "\n";
  s = StartKafka();
  if (s.ok()) s = StartProcesses();
  if (s.ok()) s = WaitReady();
  if (s.ok()) s = StartControllers();
  if (s.ok()) s = WaitAssigned();
  if (!s.ok()) {
    std::cerr << "uspctl local: " << s.message() << "\n";
    Shutdown();
    return 1;
  }
  query_port_ = procs_.front().port;
  const std::string query_url = "http://127.0.0.1:" + std::to_string(query_port_);
  nlohmann::json endpoints = {{"kafka_bootstrap", bootstrap_}, {"query_url", query_url}};
  s = WriteFileAtomically((state_ / "endpoints.json").string(), endpoints.dump(2) + "\n");
  if (s.ok()) s = WriteProcessesFile();
  if (s.ok()) WriteAssignmentsFile();
  if (!s.ok()) {
    std::cerr << "uspctl local: " << s.message() << "\n";
    Shutdown();
    return 1;
  }
  if (options_.generate_events > 0) {
    std::vector<std::string> topics;
    std::set<std::string> seen;
    for (const auto& sig : signals_) {
      for (const auto& t : sig.SourceTopics()) {
        if (seen.insert(t).second) topics.push_back(t);
      }
    }
    generator_ = std::make_unique<EventGenerator>(
        EventGeneratorOptions{bootstrap_, topics, options_.generate_events, 1000, 42});
    s = generator_->Start();
    if (!s.ok()) std::cerr << "event generator: " << s.ToString() << "\n";
  }
  std::cout << "\nUSP is running.\n"
            << "  kafka_bootstrap: " << bootstrap_ << "\n"
            << "  query_url:       " << query_url << "\n"
            << "  endpoints:       " << (state_ / "endpoints.json").string() << "\n"
            << "  logs:            " << (state_ / "logs").string() << "\n";
  if (generator_) {
    std::cout << "  generating " << options_.generate_events
              << " events/s; try: uspctl query u1 --state-dir " << options_.state_dir << "\n";
  }
  std::cout << "Press Ctrl-C to stop.\n" << std::flush;
  Supervise();
  Shutdown();
  return 0;
}

}  // namespace

int RunLocal(const LocalOptions& options) { return LocalPlatform(options).Run(); }

}  // namespace usp
