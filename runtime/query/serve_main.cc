// `usp-runtime serve`: production wiring of the query service — the catalog
// from the resource files, the Kafka source, the RocksDB store, the
// materializer thread and the HTTP server.
#include "runtime/query/serve_main.h"

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/duration.h"
#include "runtime/common/files.h"
#include "runtime/common/logging.h"
#include "runtime/common/metrics.h"
#include "runtime/common/shutdown.h"
#include "runtime/http/bearer_auth.h"
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
  // Security and limits (docs/query-api.md, "Security").
  std::string auth_tokens_file;
  bool auth_metrics = false;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  uint32_t max_header_bytes = 8 * 1024;
  uint64_t max_body_bytes = 64 * 1024;
  std::string request_timeout = "10s";
  std::string idle_timeout = "60s";
  int32_t max_limit = 10000;
  uint64_t max_response_bytes = uint64_t{16} << 20;
  int probe_port = -1;  // -1: no separate probe listener
};

// The HTTP side of the flags: server options, query options and the token
// check. Everything here is validated before Kafka is touched, so a bad flag
// fails fast with exit code 2.
struct HttpSetup {
  HttpServerOptions server;
  QueryServiceOptions query;
  std::unique_ptr<BearerAuth> auth;
};

Result<std::chrono::milliseconds> PositiveDuration(const std::string& flag,
                                                   const std::string& text) {
  auto ms = ParseDurationMs(text);
  if (!ms.ok() || *ms <= 0) {
    return Status::InvalidArgument(flag + ": '" + text + "' is not a positive duration (e.g. 10s)");
  }
  return std::chrono::milliseconds(*ms);
}

Result<HttpSetup> MakeHttpSetup(const ServeFlags& flags) {
  HttpSetup setup;
  setup.server.threads = flags.threads;
  setup.server.max_header_bytes = flags.max_header_bytes;
  setup.server.max_body_bytes = flags.max_body_bytes;
  auto request_timeout = PositiveDuration("--request-timeout", flags.request_timeout);
  if (!request_timeout.ok()) return request_timeout.status();
  setup.server.request_timeout = *request_timeout;
  auto idle_timeout = PositiveDuration("--idle-timeout", flags.idle_timeout);
  if (!idle_timeout.ok()) return idle_timeout.status();
  setup.server.idle_timeout = *idle_timeout;
  if (flags.tls_cert.empty() != flags.tls_key.empty()) {
    return Status::InvalidArgument("--tls-cert and --tls-key go together: give both or neither");
  }
  if (!flags.tls_client_ca.empty() && flags.tls_cert.empty()) {
    return Status::InvalidArgument("--tls-client-ca needs --tls-cert and --tls-key (mTLS is TLS)");
  }
  if (!flags.tls_cert.empty()) {
    setup.server.tls = HttpTlsOptions{flags.tls_cert, flags.tls_key, flags.tls_client_ca};
    USP_RETURN_IF_ERROR(CheckTlsFiles(*setup.server.tls));
  }
  setup.query.max_limit = flags.max_limit;
  // A cap below the defaults lowers the defaults too: a request without
  // `limit` must not fail.
  setup.query.default_limit = std::min(setup.query.default_limit, flags.max_limit);
  setup.query.profile_session_limit = std::min(setup.query.profile_session_limit, flags.max_limit);
  setup.query.max_response_bytes = flags.max_response_bytes;
  if (flags.auth_metrics && flags.auth_tokens_file.empty()) {
    return Status::InvalidArgument("--auth-metrics needs --auth-tokens-file");
  }
  if (!flags.auth_tokens_file.empty()) {
    BearerAuthOptions auth_options;
    if (flags.auth_metrics) auth_options.public_paths = {"/healthz", "/readyz"};
    auto auth = BearerAuth::FromFile(flags.auth_tokens_file, std::move(auth_options));
    if (!auth.ok()) {
      return Status::InvalidArgument("--auth-tokens-file: " + auth.status().message());
    }
    setup.auth = std::move(auth).value();
    BearerAuth* check = setup.auth.get();
    setup.query.authorize = [check](const HttpRequest& request) { return check->Check(request); };
  }
  return setup;
}

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
  auto http = MakeHttpSetup(flags);
  if (!http.ok()) {
    spdlog::error("{}", http.status().message());
    return 2;
  }
  if (http->auth) {
    spdlog::info("bearer-token auth on: {} tokens from {}{}", http->auth->token_count(),
                 flags.auth_tokens_file, flags.auth_metrics ? " (also for /metrics)" : "");
  }
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
      &catalog.value(), store->get(), [&] { return materializer.caught_up(); }, &metrics,
      http->query);
  auto server = HttpServer::Start(flags.address, static_cast<uint16_t>(flags.port), http->server,
                                  [&](const HttpRequest& r) { return service.Handle(r); });
  if (!server.ok()) {
    spdlog::error("{}", server.status().ToString());
    return 1;
  }
  spdlog::info(
      "serving {} signals, {} segments, {} session jobs from {} on {}://{}:{} ({} partitions, "
      "store {}{})",
      catalog->topic_by_signal.size(), catalog->topic_by_segment.size(),
      catalog->topic_by_job.size(), flags.bootstrap, flags.tls_cert.empty() ? "http" : "https",
      flags.address, (*server)->port(), *partition_count, flags.data_dir,
      flags.tls_client_ca.empty() ? "" : ", client certificates required");
  // Plain-HTTP probes next to an HTTPS API: kubelet probes cannot present a
  // client certificate, so with mTLS they need a listener of their own.
  std::unique_ptr<HttpServer> probe_server;
  if (flags.probe_port >= 0) {
    HttpServerOptions probe_options = http->server;
    probe_options.tls.reset();
    probe_options.threads = 1;
    auto probes = HttpServer::Start(
        flags.address, static_cast<uint16_t>(flags.probe_port), probe_options,
        [&](const HttpRequest& r) {
          if (r.path == "/healthz" || r.path == "/readyz" || r.path == "/metrics") {
            return service.Handle(r);
          }
          return JsonError(404, "not_found",
                           "the probe port serves only /healthz, /readyz and /metrics");
        });
    if (!probes.ok()) {
      spdlog::error("--probe-port: {}", probes.status().ToString());
      (*server)->Stop();
      return 1;
    }
    probe_server = std::move(probes).value();
    spdlog::info("probes (/healthz, /readyz, /metrics) on http://{}:{}", flags.address,
                 probe_server->port());
  }
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
  // Once the store first catches up (the backlog of the output topics is
  // materialized), flush it: the backlog moves from the memtable (a skip
  // list: a pointer chase per row read) into sorted, cached table blocks with
  // the user-prefix bloom filters, which the queries read faster. Later rows
  // reach table files as memtables fill, as usual.
  bool flushed_after_catch_up = false;
  while (!ShutdownRequested()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (!flushed_after_catch_up && materializer.caught_up()) {
      flushed_after_catch_up = true;
      Status flushed = (*store)->Flush();
      if (!flushed.ok()) spdlog::warn("flush after catching up: {}", flushed.ToString());
    }
  }
  spdlog::info("shutting down");
  if (probe_server) probe_server->Stop();
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
                 "librdkafka property KEY=VALUE (repeatable), e.g. security.protocol=SSL. "
                 "Never pass secrets here (they show in the process list): sasl.username and "
                 "sasl.password come from $USP_KAFKA_SASL_USERNAME / $USP_KAFKA_SASL_PASSWORD");
  auto* security = app.add_option_group("Security and limits", "see docs/query-api.md, Security");
  security
      ->add_option("--auth-tokens-file", flags.auth_tokens_file,
                   "require 'Authorization: Bearer <token>' on every route but /healthz, "
                   "/readyz and /metrics; tokens one per line ('#' comments), re-read within "
                   "5 s when the file changes")
      ->check(CLI::ExistingFile);
  security->add_flag("--auth-metrics", flags.auth_metrics,
                     "also require a token on /metrics (needs --auth-tokens-file)");
  security->add_option("--tls-cert", flags.tls_cert, "serve HTTPS with this PEM certificate chain")
      ->check(CLI::ExistingFile);
  security->add_option("--tls-key", flags.tls_key, "the PEM private key of --tls-cert")
      ->check(CLI::ExistingFile);
  security
      ->add_option("--tls-client-ca", flags.tls_client_ca,
                   "require client certificates signed by these PEM CAs (mutual TLS)")
      ->check(CLI::ExistingFile);
  security
      ->add_option("--probe-port", flags.probe_port,
                   "also serve /healthz, /readyz and /metrics over plain HTTP on this port "
                   "(for kubelet probes and scrapes when the API needs client certificates)")
      ->check(CLI::Range(0, 65535));
  security
      ->add_option("--max-header-bytes", flags.max_header_bytes,
                   "largest request line + headers; larger gets 431")
      ->capture_default_str()
      ->check(CLI::Range(uint32_t{1024}, uint32_t{1} << 20));
  security
      ->add_option("--max-body-bytes", flags.max_body_bytes,
                   "largest request body; larger gets 413")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 30));
  security
      ->add_option("--request-timeout", flags.request_timeout,
                   "a started request must arrive completely within this, else 408 and close")
      ->capture_default_str();
  security
      ->add_option("--idle-timeout", flags.idle_timeout,
                   "an idle keep-alive connection (or an unfinished TLS handshake) is closed "
                   "after this")
      ->capture_default_str();
  security
      ->add_option("--max-limit", flags.max_limit,
                   "largest 'limit' / 'session_limit' parameter; larger gets 400")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  security
      ->add_option("--max-response-bytes", flags.max_response_bytes,
                   "a /v1/users response larger than this gets 400 response_too_large")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1024}, uint64_t{1} << 32));
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
