// `usp-runtime worker`: command line, and the production wiring of one job
// (Kafka source and sink, HTTP endpoints, metrics). The resource's kind picks
// the loop: a simple UserSignal runs on SignalWorker; a UserSegment, a
// SessionJob or a left_join UserSignal runs on StatefulWorker
// (runtime/stateful) with the processor of runtime/jobs, a RocksDB state
// store in --state-dir and a changelog follower (warm standby).
#include "runtime/worker/worker_main.h"

#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "core/resource_loader.h"
#include "core/signal_transform.h"
#include "runtime/async/async_compute_sink.h"
#include "runtime/common/logging.h"
#include "runtime/common/metrics.h"
#include "runtime/common/shutdown.h"
#include "runtime/jobs/job_factory.h"
#include "runtime/join/repartitioner.h"
#include "runtime/lookup/lookup_table.h"
#include "runtime/state/changelog_reader.h"
#include "runtime/state/state_store.h"
#include "runtime/stateful/stateful_worker.h"
#include "runtime/worker/kafka_io.h"
#include "runtime/worker/signal_worker.h"
#include "runtime/worker/worker_cli.h"
#include "runtime/worker/worker_endpoints.h"

namespace usp {

namespace {

constexpr int kExitUsage = 2;
constexpr int kExitFailure = 1;

Status WritePortFile(const std::string& path, uint16_t port) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << port << "\n";
    if (!f) return Status::IoError("cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Status::IoError("cannot rename " + tmp + " to " + path + ": " + ec.message());
  return Status::Ok();
}

void SleepUnlessShutdown(int ms) {
  for (int i = 0; i < ms / 100 && !ShutdownRequested(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// The state directory: --state-dir (created), or a fresh one under $TMPDIR
// that is removed on exit (the state is restored from the changelog).
struct StateDir {
  std::string path;
  bool remove_on_exit = false;
  ~StateDir() {
    if (remove_on_exit && !path.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  }
};

Status MakeStateDir(const WorkerConfig& config, StateDir* dir) {
  std::error_code ec;
  if (!config.state_dir.empty()) {
    dir->path = config.state_dir;
    std::filesystem::create_directories(dir->path, ec);
    if (ec) return Status::IoError("--state-dir " + dir->path + ": " + ec.message());
    return Status::Ok();
  }
  const char* tmp = std::getenv("TMPDIR");
  std::filesystem::path base = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
  std::string tmpl = (base / ("usp-state-" + config.kind + "-" + config.name + "-XXXXXX")).string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    return Status::IoError("cannot create a state directory under " + base.string());
  }
  dir->path = tmpl;
  dir->remove_on_exit = true;
  return Status::Ok();
}

// UserSegment / SessionJob / left_join UserSignal: the stateful loop.
int RunStateful(const WorkerFlags& flags, const WorkerConfig& config) {
  const std::string& kind = config.kind;
  const std::string& name = config.name;
  spdlog::info("running {} {} on the stateful worker (state store, changelog, timers)", kind, name);

  MetricsRegistry registry;
  WorkerMetrics metrics(&registry, kind, name);
  metrics.StandbyWarm(false);
  WorkerEndpoints endpoints(kind, name, &registry, SystemClock());
  auto server = HttpServer::Start(
      flags.address, static_cast<uint16_t>(flags.http_port), 2,
      [&endpoints](const HttpRequest& request) { return endpoints.Handle(request); });
  if (!server.ok()) {
    spdlog::error("cannot listen on {}:{}: {}", flags.address, flags.http_port,
                  server.status().ToString());
    return kExitFailure;
  }
  spdlog::info("http endpoints on {}:{}", flags.address, (*server)->port());
  if (!flags.port_file.empty()) {
    Status s = WritePortFile(flags.port_file, (*server)->port());
    if (!s.ok()) {
      spdlog::error("{}", s.ToString());
      return kExitFailure;
    }
  }

  StateDir state_dir;
  Status dir_status = MakeStateDir(config, &state_dir);
  if (!dir_status.ok()) {
    spdlog::error("{}", dir_status.ToString());
    return kExitFailure;
  }
  spdlog::info("state store in {}{}", state_dir.path,
               state_dir.remove_on_exit ? " (temporary: no --state-dir)" : "");
  auto store = StateStore::Open(state_dir.path);
  if (!store.ok()) {
    spdlog::error("state store {}: {}", state_dir.path, store.status().ToString());
    return kExitFailure;
  }

  StatefulJobOptions job_options;
  job_options.signal_topics = config.signal_topics;
  auto plan = MakeStatefulJob(config.resource, job_options);
  if (!plan.ok()) {
    spdlog::error("cannot build the {} job: {}", kind, plan.status().ToString());
    return kExitUsage;
  }
  std::string topics;
  for (const auto& t : plan->job.source_topics) topics += (topics.empty() ? "" : ",") + t;
  spdlog::info("{} {}: sources {} -> output {}, changelog {}", kind, name, topics,
               plan->job.output_topic, plan->job.changelog_topic);

  auto source = KafkaSourceReader::Create(config.consumer);
  if (!source.ok()) {
    spdlog::error("kafka consumer: {}", source.status().ToString());
    return kExitUsage;
  }
  auto sink = KafkaRecordSink::Create(config.producer);
  if (!sink.ok()) {
    spdlog::error("kafka producer: {}", sink.status().ToString());
    return kExitUsage;
  }

  // The source partition count (session watermarks are per partition; "all
  // partitions" needs it): retried until the topics exist.
  int32_t partitions = 0;
  while (!ShutdownRequested()) {
    endpoints.StartupHeartbeat();
    auto n = (*source)->PartitionCount(plan->job.source_topics.front());
    if (n.ok() && *n > 0) {
      partitions = *n;
      break;
    }
    spdlog::warn("source topic {} not available, retrying in 1s: {}",
                 plan->job.source_topics.front(),
                 n.ok() ? std::string("no partitions") : n.status().ToString());
    SleepUnlessShutdown(1000);
  }
  if (ShutdownRequested()) return 0;
  job_options.source_partitions = partitions;
  plan = MakeStatefulJob(config.resource, job_options);
  if (!plan.ok()) {
    spdlog::error("cannot build the {} job: {}", kind, plan.status().ToString());
    return kExitUsage;
  }

  auto follower = ChangelogReader::Create(flags.bootstrap, plan->job.changelog_topic, store->get(),
                                          config.consumer.properties);
  if (!follower.ok()) {
    spdlog::error("changelog reader: {}", follower.status().ToString());
    return kExitUsage;
  }

  StatefulWorkerOptions options;
  options.metrics = &metrics;
  if (config.options.all_partitions) {
    for (int32_t p = 0; p < partitions; ++p) options.partitions.push_back(p);
  } else {
    options.partitions = config.options.partitions;
  }
  spdlog::info("{} {}: {} ({} source partitions)", kind, name,
               options.partitions.empty()
                   ? std::string("standby: following the changelog")
                   : std::to_string(options.partitions.size()) + " partitions owned",
               partitions);
  // asyncCompute: every window result is also POSTed to the service and its
  // answer sent as a newer version of the row (runtime/async). Declared
  // after the Kafka sink and before the worker: destroyed in reverse.
  RecordSink* worker_sink = sink->get();
  std::unique_ptr<AsyncComputeSink> async_sink;
  if (config.resource.session_job && config.resource.session_job->spec.async_compute) {
    const AsyncComputeSpec& spec = *config.resource.session_job->spec.async_compute;
    async_sink = MakeAsyncComputeSink(worker_sink, kind, name, plan->job.output_topic, spec,
                                      &registry, SystemClock());
    worker_sink = async_sink.get();
    spdlog::info("{} {}: asyncCompute to {} (maxInFlight {}, timeout {} ms, retries {})", kind,
                 name, spec.url, spec.max_in_flight, spec.timeout_ms, spec.retries);
  }
  StatefulWorker worker(plan->job, plan->processor.get(), source->get(), worker_sink,
                        store->get(), follower->get(), SystemClock(), options);
  endpoints.SetWorker(&worker);

  // left_join on a key other than the user id: re-key each source into its
  // repartition topic. A repartitioner works on the source partitions with
  // the numbers the worker owns (same counts), follows every assignment the
  // worker takes, and commits in its own group after its records are acked.
  struct Rekeying {
    std::unique_ptr<KafkaSourceReader> source;
    std::unique_ptr<KafkaRecordSink> sink;
    std::unique_ptr<Repartitioner> repartitioner;
  };
  std::vector<Rekeying> rekeying;
  for (const RepartitionStep& step : plan->repartition) {
    ConsumerOptions consumer = config.consumer;
    consumer.group_id += ".repartition";
    auto src = KafkaSourceReader::Create(consumer);
    auto snk = KafkaRecordSink::Create(config.producer);
    if (!src.ok() || !snk.ok()) {
      spdlog::error("repartition {} -> {}: {}", step.source_topic, step.target_topic,
                    (!src.ok() ? src.status() : snk.status()).ToString());
      return kExitUsage;
    }
    RepartitionerOptions ro;
    ro.partitions = options.partitions;
    ro.poll_timeout_ms = 0;  // the worker's loop waits; this one only drains
    Rekeying r{std::move(src).value(), std::move(snk).value(), nullptr};
    r.repartitioner = std::make_unique<Repartitioner>(step, r.source.get(), r.sink.get(),
                                                      SystemClock(), ro);
    spdlog::info("{} {}: re-keying {} into {} by {}", kind, name, step.source_topic,
                 step.target_topic, step.join_key_field.text());
    rekeying.push_back(std::move(r));
  }
  for (auto& r : rekeying) {
    while (!ShutdownRequested()) {
      Status s = r.repartitioner->Start();
      if (s.ok()) break;
      spdlog::warn("repartitioner not ready, retrying in 1s: {}", s.ToString());
      SleepUnlessShutdown(1000);
    }
  }
  std::vector<int32_t> rekeyed_partitions = options.partitions;

  while (!ShutdownRequested()) {
    endpoints.StartupHeartbeat();
    Status s = worker.Start();
    if (s.ok()) break;
    if (s.code() == Status::Code::kInvalidArgument) {
      spdlog::error("cannot run {} {}: {}", kind, name, s.ToString());
      endpoints.SetWorker(nullptr);
      (*server)->Stop();
      return kExitUsage;
    }
    spdlog::warn("worker not ready, retrying in 1s: {}", s.ToString());
    SleepUnlessShutdown(1000);
  }

  int rc = 0;
  if (worker.ready()) {
    spdlog::info("{} {} running", kind, name);
    int64_t consumed = 0;
    int64_t late = 0;
    while (!ShutdownRequested()) {
      Status s = worker.RunOnce();
      if (!s.ok()) {
        spdlog::error("worker stopped: {}", s.ToString());
        rc = kExitFailure;
        break;
      }
      const StatefulSnapshot stats = worker.Stats();
      if (!rekeying.empty()) {
        const bool moved = stats.partitions != rekeyed_partitions;
        for (auto& r : rekeying) {
          if (moved) s = r.repartitioner->Reassign(stats.partitions);
          if (s.ok()) s = r.repartitioner->RunOnce();
          if (!s.ok()) break;
        }
        if (!s.ok()) {
          spdlog::error("repartitioner stopped: {}", s.ToString());
          rc = kExitFailure;
          break;
        }
        rekeyed_partitions = stats.partitions;
      }
      const int64_t now_consumed = stats.processed + stats.replayed + stats.invalid;
      if (now_consumed > consumed) metrics.Consumed(now_consumed - consumed);
      consumed = now_consumed;
      if (plan->dropped_late) {
        for (int64_t n = plan->dropped_late(); late < n; ++late) metrics.Failed("late");
      }
      metrics.AssignedPartitions(static_cast<int64_t>(stats.partitions.size()));
      metrics.StandbyWarm(stats.started && (!stats.partitions.empty() || stats.replica_lag == 0));
    }
    for (auto& r : rekeying) {
      Status f = r.repartitioner->Finish();
      if (!f.ok()) spdlog::error("repartitioner final commit failed: {}", f.ToString());
    }
    Status s = worker.Finish();
    if (!s.ok()) {
      spdlog::error("final flush/commit failed: {}", s.ToString());
      rc = kExitFailure;
    } else if (rc == 0) {
      spdlog::info("worker stopped cleanly");
    }
  }
  (*server)->Stop();
  endpoints.SetWorker(nullptr);
  return rc;
}

}  // namespace

int RunWorker(int argc, char** argv) {
  WorkerFlags flags;
  CLI::App app{
      "Run one job on its assigned Kafka partitions: a simple UserSignal (events -> signal "
      "records), a UserSegment (signal records -> segment records) or a SessionJob (signal "
      "records -> session windows). UserSegment and SessionJob keep per-user state in RocksDB "
      "(--state-dir) backed by the changelog topic usp.changelog.<kind>.<name>.",
      "usp-runtime worker"};
  AddWorkerFlags(&app, &flags);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }

  auto config = LoadWorkerConfig(flags);
  if (!config.ok()) {
    std::fprintf(stderr, "usp-runtime worker: %s\n", config.status().message().c_str());
    return kExitUsage;
  }
  InitLogging("worker", config->name);
  InstallShutdownHandlers();
  if (config->stateful) return RunStateful(flags, *config);

  const UserSignal& signal = config->signal;
  spdlog::info("running UserSignal {} (simple) on the signal worker", signal.metadata.name);

  auto transform = SignalTransform::Create(signal);
  if (!transform.ok()) {
    spdlog::error("cannot build the transform: {}", transform.status().ToString());
    return kExitUsage;
  }

  MetricsRegistry registry;
  WorkerMetrics metrics(&registry, "UserSignal", signal.metadata.name);
  metrics.StandbyWarm(false);
  WorkerEndpoints endpoints("UserSignal", signal.metadata.name, &registry, SystemClock());
  auto server = HttpServer::Start(
      flags.address, static_cast<uint16_t>(flags.http_port), 2,
      [&endpoints](const HttpRequest& request) { return endpoints.Handle(request); });
  if (!server.ok()) {
    spdlog::error("cannot listen on {}:{}: {}", flags.address, flags.http_port,
                  server.status().ToString());
    return kExitFailure;
  }
  spdlog::info("http endpoints on {}:{}", flags.address, (*server)->port());
  if (!flags.port_file.empty()) {
    Status s = WritePortFile(flags.port_file, (*server)->port());
    if (!s.ok()) {
      spdlog::error("{}", s.ToString());
      return kExitFailure;
    }
  }

  auto source = KafkaSourceReader::Create(config->consumer);
  if (!source.ok()) {
    spdlog::error("kafka consumer: {}", source.status().ToString());
    return kExitUsage;
  }
  auto sink = KafkaRecordSink::Create(config->producer);
  if (!sink.ok()) {
    spdlog::error("kafka producer: {}", sink.status().ToString());
    return kExitUsage;
  }

  // spec.lookups: one RocksDB table per lookup under --state-dir (default: a
  // temporary directory removed on exit), loaded from its compacted topic by
  // a background consumer. The worker is not ready (warm) before the initial
  // load. Declared before the worker: destroyed after it.
  StateDir lookup_dir;
  std::unique_ptr<LookupTables> lookups;
  if (!signal.spec.lookups.empty()) {
    Status dir_status = MakeStateDir(*config, &lookup_dir);
    if (!dir_status.ok()) {
      spdlog::error("{}", dir_status.ToString());
      return kExitFailure;
    }
    auto opened = OpenLookupTables(signal, flags.bootstrap, config->consumer.properties,
                                   (std::filesystem::path(lookup_dir.path) / "lookups").string(),
                                   &registry.registry());
    if (!opened.ok()) {
      spdlog::error("lookup tables: {}", opened.status().ToString());
      return kExitFailure;
    }
    lookups = std::move(opened).value();
    (*transform)->SetLookupSource(lookups.get());
    spdlog::info("{} lookup table(s) in {}/lookups", lookups->tables().size(), lookup_dir.path);
  }

  SignalWorker worker(signal, std::move(transform).value(), source->get(), sink->get(), &metrics,
                      SystemClock(), config->options);
  if (lookups) {
    worker.AddStartGate("the initial load of the lookup tables",
                        [&lookups] { return lookups->loaded(); });
    while (!ShutdownRequested()) {
      endpoints.StartupHeartbeat();
      Status s = lookups->Start();
      if (s.ok() && lookups->loaded()) break;
      if (!s.ok()) spdlog::warn("lookup tables not started, retrying: {}", s.ToString());
      std::this_thread::sleep_for(std::chrono::milliseconds(s.ok() ? 20 : 1000));
    }
  }
  endpoints.SetWorker(&worker);

  // Connect: retried until it works, so a worker may start before its
  // topics exist or while the brokers restart.
  while (!ShutdownRequested()) {
    endpoints.StartupHeartbeat();
    Status s = worker.Start();
    if (s.ok()) break;
    spdlog::warn("worker not ready, retrying in 1s: {}", s.ToString());
    for (int i = 0; i < 10 && !ShutdownRequested(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  endpoints.SetWorker(&worker);

  int rc = 0;
  if (worker.ready()) {
    Status s = worker.Run([] { return ShutdownRequested(); });
    if (!s.ok()) {
      spdlog::error("worker stopped: {}", s.ToString());
      rc = kExitFailure;
    } else {
      spdlog::info("worker stopped cleanly");
    }
  }
  (*server)->Stop();
  endpoints.SetWorker(nullptr);
  return rc;
}

}  // namespace usp
