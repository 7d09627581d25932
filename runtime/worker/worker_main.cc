// `usp-runtime worker`: command line, and the production wiring of one
// simple UserSignal job (Kafka source and sink, HTTP endpoints, metrics).
#include "runtime/worker/worker_main.h"

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "core/resource_loader.h"
#include "core/signal_transform.h"
#include "runtime/common/logging.h"
#include "runtime/common/metrics.h"
#include "runtime/common/shutdown.h"
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

}  // namespace

int RunWorker(int argc, char** argv) {
  WorkerFlags flags;
  CLI::App app{"Run one UserSignal job on its assigned Kafka partitions.", "usp-runtime worker"};
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
  const UserSignal& signal = config->signal;
  InitLogging("worker", signal.metadata.name);
  InstallShutdownHandlers();

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

  SignalWorker worker(signal, std::move(transform).value(), source->get(), sink->get(), &metrics,
                      SystemClock(), config->options);
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
