#include "runtime/worker/worker_cli.h"

#include "runtime/kafka/kafka_properties.h"

#include <charconv>

#include "core/resource_loader.h"

namespace usp {

void AddWorkerFlags(CLI::App* app, WorkerFlags* flags) {
  app->add_option("--config", flags->config, "UserSignal resource file (YAML or normalized JSON)")
      ->required();
  app->add_option("--bootstrap", flags->bootstrap, "Kafka bootstrap servers, HOST:PORT[,...]")
      ->required();
  app->add_option("--partitions", flags->partitions,
                  "source partitions to own, e.g. 0,1,5 (same numbers on every source topic; "
                  "'none' for a standby); default: all");
  app->add_option("--http-port", flags->http_port,
                  "port of /healthz, /readyz, /status, /metrics (0 picks a free port)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  app->add_option("--address", flags->address, "address the HTTP endpoints bind")
      ->capture_default_str();
  app->add_option("--port-file", flags->port_file,
                  "write the bound HTTP port to this file once listening");
  app->add_option("--group", flags->group,
                  "consumer group for committed offsets (default usp.UserSignal.<name>)");
  app->add_option("--kafka-property", flags->kafka_properties,
                  "librdkafka property k=v for consumer and producer (repeatable)")
      ->take_all();
}

Status ParsePartitionList(const std::string& text, SignalWorkerOptions* options) {
  options->partitions.clear();
  options->all_partitions = text.empty();
  if (text.empty() || text == "none") return Status::Ok();
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string_view item(text.data() + start, comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    int32_t p = -1;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), p);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size() || p < 0) {
      return Status::InvalidArgument("--partitions: '" + std::string(item) +
                                     "' is not a partition number");
    }
    options->partitions.push_back(p);
    start = comma + 1;
  }
  return Status::Ok();
}

Result<WorkerConfig> LoadWorkerConfig(const WorkerFlags& flags) {
  auto loaded = LoadResourcesFromPath(flags.config);
  if (!loaded.ok()) return Status::InvalidArgument(loaded.status().message());
  std::string problems;
  for (const LoadedResource& r : *loaded) {
    for (const FieldError& e : r.errors) problems += r.source + ": " + e.ToString() + "\n";
  }
  if (!problems.empty()) {
    problems.pop_back();
    return Status::InvalidArgument("invalid resource:\n" + problems);
  }
  if (loaded->size() != 1) {
    return Status::InvalidArgument(flags.config + ": expected exactly one UserSignal, found " +
                                   std::to_string(loaded->size()) + " resources");
  }
  const LoadedResource& r = loaded->front();
  if (!r.user_signal.has_value()) {
    return Status::InvalidArgument(r.source + ": kind " + r.kind +
                                   " is not run by this worker (expected UserSignal)");
  }
  if (r.user_signal->spec.type != SignalType::kSimple) {
    return Status::InvalidArgument(r.source + ": spec.type: " + ToString(r.user_signal->spec.type) +
                                   " is not supported by this worker (simple only)");
  }

  WorkerConfig config;
  config.signal = *r.user_signal;
  USP_RETURN_IF_ERROR(ParsePartitionList(flags.partitions, &config.options));
  auto properties = ParseKafkaProperties(flags.kafka_properties, "--kafka-property");
  if (!properties.ok()) return properties.status();
  const std::string& name = config.signal.metadata.name;

  config.consumer.bootstrap = flags.bootstrap;
  config.consumer.group_id = flags.group.empty() ? "usp.UserSignal." + name : flags.group;
  config.consumer.client_id = "usp-worker-" + name;
  config.consumer.properties = *properties;
  config.producer.bootstrap = flags.bootstrap;
  config.producer.client_id = "usp-worker-" + name;
  config.producer.properties = *properties;
  return config;
}

}  // namespace usp
