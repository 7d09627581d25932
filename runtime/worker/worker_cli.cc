#include "runtime/worker/worker_cli.h"

#include "runtime/kafka/kafka_properties.h"

#include <charconv>

#include "core/plugin/plugin_loader.h"
#include "core/resource_loader.h"

namespace usp {

void AddWorkerFlags(CLI::App* app, WorkerFlags* flags) {
  app->add_option("--config", flags->config,
                  "the job's resource file (YAML or normalized JSON): one simple UserSignal, "
                  "UserSegment or SessionJob")
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
                  "consumer group for committed offsets (default usp.<Kind>.<name>, e.g. "
                  "usp.UserSignal.searches)");
  app->add_option("--kafka-property", flags->kafka_properties,
                  "librdkafka property k=v for consumer and producer (repeatable)")
      ->take_all();
  app->add_option("--plugin", flags->plugins,
                  "plug-in shared library providing spec.transform (repeatable; also "
                  "USP_PLUGIN_PATH, ':'-separated)")
      ->allow_extra_args(false)
      ->take_all();
  app->add_option("--state-dir", flags->state_dir,
                  "UserSegment/SessionJob: directory of the RocksDB state store (created; one "
                  "per worker process). Default: a fresh directory under $TMPDIR (or /tmp), "
                  "removed on exit; the state is restored from the changelog topic");
  app->add_option("--signal-topic", flags->signal_topics,
                  "UserSegment/SessionJob: NAME=TOPIC reads UserSignal NAME from TOPIC instead "
                  "of usp.signal.NAME (repeatable)")
      ->allow_extra_args(false)
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

Status ParseSignalTopic(const std::string& text, std::map<std::string, std::string>* out) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size()) {
    return Status::InvalidArgument("--signal-topic: '" + text + "' is not NAME=TOPIC");
  }
  std::string name = text.substr(0, eq);
  std::string topic = text.substr(eq + 1);
  auto [it, inserted] = out->emplace(name, topic);
  if (!inserted && it->second != topic) {
    return Status::InvalidArgument("--signal-topic: " + name + " given twice (" + it->second +
                                   ", " + topic + ")");
  }
  return Status::Ok();
}

Result<WorkerConfig> LoadWorkerConfig(const WorkerFlags& flags) {
  // Plug-ins first: SignalTransform::Create looks spec.transform up in them.
  USP_RETURN_IF_ERROR(LoadPlugins(flags.plugins));
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
    return Status::InvalidArgument(flags.config +
                                   ": expected exactly one UserSignal, UserSegment or SessionJob, "
                                   "found " +
                                   std::to_string(loaded->size()) + " resources");
  }
  const LoadedResource& r = loaded->front();
  WorkerConfig config;
  config.kind = r.kind;
  config.name = r.name;
  config.resource = r;
  if (r.user_signal.has_value()) {
    config.signal = *r.user_signal;
    // left_join keeps join state: the stateful loop runs it.
    config.stateful = r.user_signal->spec.type == SignalType::kLeftJoin;
  } else if (r.user_segment.has_value() || r.session_job.has_value()) {
    config.stateful = true;
  } else {
    return Status::InvalidArgument(r.source + ": kind " + r.kind +
                                   " is not run by this worker (expected UserSignal, "
                                   "UserSegment or SessionJob)");
  }
  // --state-dir and --signal-topic are accepted and ignored for a simple
  // UserSignal (a controller may pass them to every worker).
  for (const std::string& item : flags.signal_topics) {
    USP_RETURN_IF_ERROR(ParseSignalTopic(item, &config.signal_topics));
  }
  config.state_dir = flags.state_dir;
  USP_RETURN_IF_ERROR(ParsePartitionList(flags.partitions, &config.options));
  auto properties = ParseKafkaProperties(flags.kafka_properties, "--kafka-property");
  if (!properties.ok()) return properties.status();
  const std::string& name = config.name;

  config.consumer.bootstrap = flags.bootstrap;
  config.consumer.group_id = flags.group.empty() ? "usp." + config.kind + "." + name : flags.group;
  config.consumer.client_id = "usp-worker-" + name;
  config.consumer.properties = *properties;
  config.producer.bootstrap = flags.bootstrap;
  config.producer.client_id = "usp-worker-" + name;
  config.producer.properties = *properties;
  return config;
}

}  // namespace usp
