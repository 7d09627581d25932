// uspctl: the user CLI. `local` runs the platform on one machine, `status`
// shows its partition assignments, `broker` runs only the embedded Kafka
// broker, `validate` checks resource files, `generate` writes the manifests,
// alerts and dashboard of each resource, `query` reads a user's signals from
// the query API, `export` writes the query store as JSON lines, `import`
// turns seed-format signal configs into UserSignal resources.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/broker_command.h"
#include "cli/export.h"
#include "cli/generate.h"
#include "cli/import_seed.h"
#include "cli/local_platform.h"
#include "core/resource_loader.h"
#include "runtime/http/http_client.h"

namespace usp {
namespace {

int RunValidate(const std::vector<std::string>& files) {
  int invalid = 0;
  for (const auto& file : files) {
    auto loaded = LoadResourcesFromPath(file);
    if (!loaded.ok()) {
      std::cerr << file << ": " << loaded.status().message() << "\n";
      ++invalid;
      continue;
    }
    if (loaded->empty()) std::cerr << file << ": no resources\n";
    for (const auto& r : *loaded) {
      if (r.valid()) {
        std::cout << r.source << ": " << r.kind << " " << r.name << " is valid\n";
        continue;
      }
      ++invalid;
      for (const auto& e : r.errors) std::cerr << r.source << ": " << e.ToString() << "\n";
    }
  }
  return invalid == 0 ? 0 : 1;
}

std::string PercentEncode(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == ',') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// The assignment tables of a running `uspctl local` (STATE/assignments.json).
int RunStatus(const std::string& state_dir, const std::string& job) {
  std::filesystem::path path = std::filesystem::path(state_dir) / "assignments.json";
  std::ifstream in(path);
  if (!in) {
    std::cerr << "uspctl status: no " << path.string()
              << " (is `uspctl local` running with this --state-dir?)\n";
    return 2;
  }
  try {
    nlohmann::json doc = nlohmann::json::parse(in);
    int shown = 0;
    for (const auto& j : doc.at("jobs")) {
      if (!job.empty() && j.at("job") != job) continue;
      std::cout << j.at("table").get<std::string>() << "  failovers: " << j.value("failovers", 0)
                << "\n";
      ++shown;
    }
    if (shown == 0) {
      std::cerr << "uspctl status: no job" << (job.empty() ? "" : " named " + job) << " in "
                << path.string() << "\n";
      return 1;
    }
  } catch (const std::exception& e) {
    std::cerr << "uspctl status: cannot read " << path.string() << ": " << e.what() << "\n";
    return 2;
  }
  return 0;
}

struct QueryOptions {
  std::string user;
  std::string what = "signals";
  std::string types;
  std::string start, end, limit, at, job;
  std::string url;
  std::string state_dir = ".usp-local";
};

int RunQuery(const QueryOptions& o) {
  std::string base = o.url;
  if (base.empty()) {
    std::filesystem::path endpoints = std::filesystem::path(o.state_dir) / "endpoints.json";
    std::ifstream in(endpoints);
    if (!in) {
      std::cerr << "uspctl query: no --url and no " << endpoints.string()
                << " (is `uspctl local` running with this --state-dir?)\n";
      return 2;
    }
    try {
      base = nlohmann::json::parse(in).at("query_url").get<std::string>();
    } catch (const std::exception& e) {
      std::cerr << "uspctl query: cannot read " << endpoints.string() << ": " << e.what() << "\n";
      return 2;
    }
  }
  std::string url = base + "/v1/users/" + PercentEncode(o.user) + "/" + o.what;
  std::string sep = "?";
  auto param = [&](const char* name, const std::string& v) {
    if (v.empty()) return;
    url += sep + name + "=" + PercentEncode(v);
    sep = "&";
  };
  param("types", o.types);
  param("start", o.start);
  param("end", o.end);
  param("limit", o.limit);
  param("at", o.at);
  param("job", o.job);
  auto r = HttpGet(url);
  if (!r.ok()) {
    std::cerr << "uspctl query: " << r.status().message() << "\n";
    return 1;
  }
  try {
    std::cout << nlohmann::json::parse(r->body).dump(2) << "\n";
  } catch (const std::exception&) {
    std::cout << r->body << "\n";
  }
  return r->status == 200 ? 0 : 1;
}

}  // namespace
}  // namespace usp

int main(int argc, char** argv) {
  CLI::App app{"uspctl: the User Signals Platform CLI"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "uspctl 0.1.0");

  usp::LocalOptions local;
  auto* local_cmd = app.add_subcommand(
      "local", "Run the platform on this machine: embedded Kafka broker, workers, query service");
  local_cmd->add_option("--resources", local.resources_dir, "Directory (or file) of resource YAML")
      ->required();
  local_cmd->add_option("--kafka-bootstrap", local.kafka_bootstrap,
                        "Use this Kafka cluster instead of the embedded broker");
  local_cmd->add_option("--partitions", local.partitions, "Partitions of each topic created")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  local_cmd->add_option("--query-port", local.query_port, "Query API port (0 picks a free port)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  local_cmd->add_option("--state-dir", local.state_dir, "Where state, logs and endpoints.json go")
      ->capture_default_str();
  local_cmd->add_option("--generate-events", local.generate_events,
                        "Produce synthetic events at this rate (events/s) to the source topics")
      ->check(CLI::NonNegativeNumber);
  local_cmd->add_option("--runtime", local.runtime_path,
                        "Path of the usp-runtime binary (default: beside uspctl)");
  local_cmd->add_option("--plugin", local.plugins,
                        "Plug-in library (.so) every worker loads, for spec.transform "
                        "(repeatable; docs/plugins.md)")
      ->check(CLI::ExistingFile);
  local_cmd->add_option("--ready-timeout", local.ready_timeout_s, "Seconds to wait for readiness")
      ->capture_default_str();

  std::string status_state_dir = ".usp-local";
  std::string status_job;
  auto* status_cmd = app.add_subcommand(
      "status", "Show the partition assignment of each job of a running `uspctl local`");
  status_cmd->add_option("--state-dir", status_state_dir, "State dir of `uspctl local`")
      ->capture_default_str();
  status_cmd->add_option("--job", status_job, "Only this job (resource name)");

  usp::BrokerOptions broker;
  auto* broker_cmd = app.add_subcommand(
      "broker", "Run only the embedded Kafka-protocol broker (in-memory) with the given topics");
  broker_cmd->add_option("--topic", broker.topics, "Topic to create (repeatable)")
      ->take_all();
  broker_cmd->add_option("--partitions", broker.partitions, "Partitions of each topic created")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  broker_cmd->add_option("--bootstrap-file", broker.bootstrap_file,
                         "Write the bootstrap (HOST:PORT) to this file once the topics exist");

  std::vector<std::string> files;
  auto* validate_cmd =
      app.add_subcommand("validate", "Check resource files; print errors with their field paths");
  validate_cmd->add_option("files", files, "Resource files or directories")->required();

  usp::GenerateOptions gen;
  auto* generate_cmd = app.add_subcommand(
      "generate",
      "Write, per resource of FILE: the normalized resource, the worker ConfigMap + Deployment, a "
      "backfill Job (and CronJob), a PrometheusRule with the job's alerts, a Grafana dashboard");
  generate_cmd->add_option("file", gen.file, "Resource file or directory")->required();
  generate_cmd->add_option("--out-dir", gen.out_dir, "Where the files go (default: ./generated/<name>)");
  generate_cmd->add_option("--namespace", gen.ns, "Namespace of every object (default: the resource's)");
  generate_cmd->add_option("--image", gen.image,
                           "Image of workers and backfill jobs (default: --values, else the operator's)");
  generate_cmd->add_option("--brokers", gen.brokers,
                           "Kafka bootstrap servers of workers and backfills (default: --values' "
                           "kafka.bootstrap, else kafka:9092)");
  generate_cmd->add_option("--values", gen.values_file,
                           "Values file of the usp Helm chart: kafka.bootstrap, image, imagePullSecrets, "
                           "workers.resources/httpPort/preStopSleepSeconds, as the operator gets them");
  generate_cmd->add_option("--cronjob", gen.cron_schedule,
                           "Also write a backfill CronJob on this schedule (e.g. \"0 3 * * *\")");
  generate_cmd->add_option("--backfill-from", gen.backfill_from,
                           "Backfill start: epoch ms, RFC 3339, now or now-DURATION")
      ->capture_default_str();
  generate_cmd->add_option("--backfill-to", gen.backfill_to, "Backfill end (same forms)")->capture_default_str();
  generate_cmd->add_flag("--stdout", gen.to_stdout,
                         "Print the Kubernetes manifests as one YAML stream instead of writing files");
  auto& th = gen.thresholds;
  auto* alerts = "Alert thresholds";
  generate_cmd->add_option("--written-drop-ratio", th.written_drop_ratio,
                           "UspEventsWrittenAnomaly: fire when the written rate falls below this x its baseline")
      ->capture_default_str()->group(alerts);
  generate_cmd->add_option("--written-rate-window", th.written_rate_window, "... over this window")
      ->capture_default_str()->group(alerts);
  generate_cmd->add_option("--written-baseline-window", th.written_baseline_window,
                           "... the baseline: the rate over this window before it (e.g. 1h, 1w)")
      ->capture_default_str()->group(alerts);
  generate_cmd->add_option("--written-min-baseline-rate", th.written_min_baseline_rate,
                           "... only when the baseline is at least this many events/s")
      ->capture_default_str()->group(alerts);
  generate_cmd->add_option("--written-for", th.written_for, "... for this long")->capture_default_str()->group(alerts);
  generate_cmd->add_option("--latency-quantile", th.latency_quantile,
                           "UspOverallLatencyHigh: this quantile of usp_event_latency_seconds ...")
      ->capture_default_str()->group(alerts);
  generate_cmd->add_option("--latency-seconds", th.latency_seconds, "... above this many seconds")
      ->capture_default_str()->group(alerts);
  generate_cmd->add_option("--latency-for", th.latency_for, "... for this long")->capture_default_str()->group(alerts);
  generate_cmd->add_option("--min-success-ratio", th.min_success_ratio,
                           "UspSuccessRateLow: fire when 1 - failed/consumed is below this ...")
      ->capture_default_str()->group(alerts);
  generate_cmd->add_option("--success-window", th.success_window, "... over this window")
      ->capture_default_str()->group(alerts);
  generate_cmd->add_option("--success-for", th.success_for, "... for this long")->capture_default_str()->group(alerts);
  generate_cmd->add_option("--severity", th.severity, "severity label of the alerts")
      ->capture_default_str()->group(alerts);

  usp::QueryOptions query;
  auto* query_cmd = app.add_subcommand("query", "Read a user's signals from the query API");
  query_cmd->add_option("user", query.user, "User id")->required();
  query_cmd->add_option("--what", query.what, "signals | segments | sessions | profile")
      ->check(CLI::IsMember({"signals", "segments", "sessions", "profile"}))
      ->capture_default_str();
  query_cmd->add_option("--types", query.types, "Comma-separated signal names");
  query_cmd->add_option("--start", query.start, "Event time from (epoch ms, inclusive)");
  query_cmd->add_option("--end", query.end, "Event time to (epoch ms, exclusive)");
  query_cmd->add_option("--limit", query.limit, "Maximum records [100]");
  query_cmd->add_option("--at", query.at, "Segments as of this time (epoch ms)");
  query_cmd->add_option("--job", query.job, "Session job name");
  query_cmd->add_option("--url", query.url, "Query service URL (default: from endpoints.json)");
  query_cmd->add_option("--state-dir", query.state_dir, "State dir of `uspctl local`")
      ->capture_default_str();

  usp::ExportOptions exp;
  std::string export_store_dir;
  auto* export_cmd = app.add_subcommand(
      "export",
      "Write the query store as JSON lines (newest version of each row); reads a copy of the "
      "store's state, so it runs beside a live query service");
  export_cmd
      ->add_option("--store-dir", export_store_dir,
                   "The query store (usp-runtime serve --data-dir; for uspctl local: STATE_DIR/store)")
      ->required();
  export_cmd->add_option("--kind", exp.kind, "signals | segments | sessions | all")
      ->check(CLI::IsMember({"signals", "segments", "sessions", "all"}))
      ->capture_default_str();
  export_cmd->add_option("--name", exp.names,
                         "Only rows of this signal / segment / SessionJob (repeatable)");
  export_cmd->add_option("--from", exp.from,
                         "Time from (inclusive; epoch ms or RFC 3339): signals by event_time, "
                         "segments by start, sessions by window_end");
  export_cmd->add_option("--to", exp.to, "Time to (exclusive; same forms)");
  export_cmd->add_option("--out", exp.out, "Output file, - for stdout; a name ending in .gz is gzipped")
      ->capture_default_str();

  usp::ImportCommandOptions imp;
  auto* import_cmd = app.add_subcommand(
      "import",
      "Turn signal configs in the seed's format (name, type, event_sources, ...; YAML or JSON) "
      "into UserSignal resources (docs/import.md)");
  import_cmd->add_option("files", imp.files, "Seed config files")->required()->check(CLI::ExistingFile);
  auto* import_out = import_cmd->add_option("--out-dir", imp.out_dir,
                                            "Write one NAME.yaml per resource here");
  import_cmd->add_flag("--stdout", imp.to_stdout, "Print the resources as one YAML stream (default)")
      ->excludes(import_out);
  import_cmd->add_option("--namespace", imp.import.namespace_, "metadata.namespace of every resource");
  import_cmd->add_flag("--overwrite", imp.overwrite, "Replace existing files in --out-dir");
  import_cmd->add_flag("--strict", imp.strict, "Treat lossy mappings (warnings) as errors");

  CLI11_PARSE(app, argc, argv);
  if (local_cmd->parsed()) return usp::RunLocal(local);
  if (status_cmd->parsed()) return usp::RunStatus(status_state_dir, status_job);
  if (broker_cmd->parsed()) return usp::RunBroker(broker);
  if (validate_cmd->parsed()) return usp::RunValidate(files);
  if (generate_cmd->parsed()) return usp::RunGenerate(gen);
  if (query_cmd->parsed()) return usp::RunQuery(query);
  if (export_cmd->parsed()) {
    exp.store_dir = export_store_dir;
    return usp::RunExport(exp);
  }
  if (import_cmd->parsed()) return usp::RunImport(imp);
  return 2;
}
