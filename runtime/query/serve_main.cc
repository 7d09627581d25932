// `usp-runtime serve`: production wiring of the query service — the catalog
// from the resource files, the Kafka source, the RocksDB store, the
// materializer thread and the HTTP server.
#include "runtime/query/serve_main.h"

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "runtime/common/files.h"
#include "runtime/common/logging.h"
#include "runtime/common/metrics.h"
#include "runtime/common/shutdown.h"
#include "runtime/http/http_server.h"
#include "runtime/kafka/kafka_properties.h"
#include "runtime/query/materializer.h"
#include "runtime/query/partition_list.h"
#include "runtime/query/query_service.h"
#include "runtime/query/signal_catalog.h"
#include "runtime/query/signal_source.h"
#include "runtime/store/signal_store.h"

namespace usp {

namespace {

// The partition count of a store created while no output topic exists.
constexpr int32_t kDefaultPartitions = 8;

struct ServeFlags {
  std::string resources;
  std::string bootstrap;
  std::string address = "0.0.0.0";
  int port = 8080;
  std::string data_dir;
  std::string partitions;
  std::string port_file;
  int threads = 2;
  std::vector<std::string> kafka_properties;
};

// Sleeps up to `ms`, waking early on shutdown. False when shutting down.
bool SleepUnlessShutdown(int ms) {
  for (int waited = 0; waited < ms; waited += 50) {
    if (ShutdownRequested()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return !ShutdownRequested();
}

// Waits (until shutdown) for the output topics to exist and returns their
// shared partition count.
Result<int32_t> WaitForPartitionCount(SignalSource* source,
                                      const std::vector<std::string>& topics) {
  if (topics.empty()) return kDefaultPartitions;
  while (true) {
    auto count = DiscoverPartitionCount(source, topics, 5000);
    if (count.ok() || count.status().code() == Status::Code::kInvalidArgument) return count;
    spdlog::warn("waiting for the output topics: {}", count.status().ToString());
    if (!SleepUnlessShutdown(1000)) return Status::Unavailable("shutdown requested");
  }
}

int Serve(const ServeFlags& flags) {
  std::vector<std::string> warnings;
  auto catalog = LoadSignalCatalog(flags.resources, &warnings);
  for (const std::string& w : warnings) spdlog::warn("{}", w);
  if (!catalog.ok()) {
    spdlog::error("cannot load resources from {}: {}", flags.resources,
                  catalog.status().ToString());
    return 1;
  }
  if (catalog->topic_by_signal.empty() && catalog->topic_by_segment.empty() &&
      catalog->topic_by_job.empty()) {
    spdlog::warn("no valid UserSignal, UserSegment or SessionJob in {}: nothing to materialize",
                 flags.resources);
  }
  std::vector<int32_t> partitions;
  if (!flags.partitions.empty()) {
    auto parsed = ParsePartitionList(flags.partitions);
    if (!parsed.ok()) {
      spdlog::error("--partitions: {}", parsed.status().message());
      return 2;
    }
    partitions = std::move(parsed).value();
  }
  auto properties = ParseKafkaProperties(flags.kafka_properties, "-X");
  if (!properties.ok()) {
    spdlog::error("{}", properties.status().message());
    return 2;
  }

  auto source = KafkaSignalSource::Create(flags.bootstrap, *properties);
  if (!source.ok()) {
    spdlog::error("cannot create the Kafka consumer: {}", source.status().ToString());
    return 1;
  }
  MaterializerOptions materializer_options;
  materializer_options.topics = catalog->SignalsByTopic();
  materializer_options.segment_topics = catalog->SegmentsByTopic();
  materializer_options.session_topics = catalog->JobsByTopic();
  materializer_options.partitions = partitions;
  std::vector<std::string> topics = materializer_options.AllTopics();

  auto partition_count = WaitForPartitionCount(source->get(), topics);
  if (!partition_count.ok()) {
    if (ShutdownRequested()) return 0;
    spdlog::error("{}", partition_count.status().ToString());
    return 1;
  }
  SignalStoreOptions store_options;
  store_options.partitions = *partition_count;
  auto store = SignalStore::Open(flags.data_dir, store_options);
  if (!store.ok()) {
    spdlog::error("{}", store.status().ToString());
    return 1;
  }

  MetricsRegistry metrics;
  MaterializerProbe materializer_probe(&metrics);
  Materializer materializer(source->get(), store->get(), &materializer_probe,
                            std::move(materializer_options));
  while (true) {
    Status started = materializer.Start();
    if (started.ok()) break;
    if (started.code() == Status::Code::kInvalidArgument) {
      spdlog::error("{}", started.ToString());
      return 1;
    }
    spdlog::warn("cannot start materializing yet: {}", started.ToString());
    if (!SleepUnlessShutdown(1000)) return 0;
  }

  QueryService service(
      &catalog.value(), store->get(), [&] { return materializer.caught_up(); }, &metrics);
  auto server = HttpServer::Start(flags.address, static_cast<uint16_t>(flags.port), flags.threads,
                                  [&](const HttpRequest& r) { return service.Handle(r); });
  if (!server.ok()) {
    spdlog::error("{}", server.status().ToString());
    return 1;
  }
  spdlog::info(
      "serving {} signals, {} segments, {} session jobs from {} on {}:{} ({} partitions, store {})",
      catalog->topic_by_signal.size(), catalog->topic_by_segment.size(),
      catalog->topic_by_job.size(), flags.bootstrap, flags.address, (*server)->port(),
      *partition_count, flags.data_dir);
  if (!flags.port_file.empty()) {
    Status written = WriteFileAtomically(flags.port_file, std::to_string((*server)->port()) + "\n");
    if (!written.ok()) {
      spdlog::error("{}", written.ToString());
      (*server)->Stop();
      return 1;
    }
  }

  Status run_status;
  std::thread materializer_thread([&] {
    run_status = materializer.Run([] { return ShutdownRequested(); });
    if (!run_status.ok()) {
      spdlog::error("materializer stopped: {}", run_status.ToString());
      RequestShutdown();
    }
  });
  while (!ShutdownRequested()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  spdlog::info("shutting down");
  (*server)->Stop();
  materializer_thread.join();
  return run_status.ok() ? 0 : 1;
}

}  // namespace

int RunServe(int argc, char** argv) {
  ServeFlags flags;
  CLI::App app{"Materialize the output topics into RocksDB and serve the query API",
               "usp-runtime serve"};
  app.add_option("--resources", flags.resources,
                 "resource file or directory (UserSignal, UserSegment, SessionJob: the catalog)")
      ->required();
  app.add_option("--bootstrap", flags.bootstrap, "Kafka bootstrap servers, HOST:PORT[,...]")
      ->required();
  app.add_option("--data-dir", flags.data_dir, "RocksDB directory (created if missing)")
      ->required();
  app.add_option("--port", flags.port, "HTTP port; 0 picks a free port")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  app.add_option("--address", flags.address, "HTTP listen address")->capture_default_str();
  app.add_option("--partitions", flags.partitions,
                 "materialize only these partitions of every output topic, e.g. 0,1,4-7 "
                 "(default: all)");
  app.add_option("--port-file", flags.port_file, "write the bound HTTP port here once listening");
  app.add_option("--threads", flags.threads, "HTTP I/O threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("-X,--kafka-property", flags.kafka_properties,
                 "librdkafka property KEY=VALUE (repeatable), e.g. security.protocol=SSL");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  InitLogging("serve");
  InstallShutdownHandlers();
  return Serve(flags);
}

}  // namespace usp
