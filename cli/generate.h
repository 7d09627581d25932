#pragma once
// `uspctl generate FILE`: everything a platform team deploys for each
// resource of FILE, as the operator and the monitoring stack would build it:
//   <name>.resource.yaml        the resource normalized (every default filled
//                               in); generating it again gives the same file
//   <name>.worker.yaml          the worker ConfigMap + Deployment, from the
//                               operator's own builders (operator/reconcile/
//                               workload.h), without ownerReferences (the
//                               resource has no uid yet; the operator adopts
//                               them)
//   <name>.backfill-job.yaml    a batch/v1 Job running `usp-runtime backfill`
//                               on the worker ConfigMap's job.json (and a
//                               CronJob with --cronjob)
//   <name>.prometheusrule.yaml  the job's three alerts (core/monitoring)
//   dashboards/<name>.dashboard.json
//                               the job's Grafana dashboard (core/monitoring),
//                               in a subdirectory so `kubectl apply -f DIR`
//                               takes exactly the manifests
// The builders are pure (GenerateFiles); RunGenerate does the file I/O.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/monitoring/alert_rules.h"
#include "core/resource_loader.h"
#include "core/status.h"

namespace usp {

struct GenerateOptions {
  std::string file;     // a resource file or a directory of them
  std::string out_dir;  // empty: ./generated/<name> per resource
  std::string ns;       // empty: each resource's metadata.namespace
  std::string image;    // empty: the values' image.repository:tag, else the operator's default
  // Kafka bootstrap of workers and backfills; empty: the values'
  // kafka.bootstrap, else kafka:9092 (the chart's default).
  std::string brokers;
  std::string cron_schedule;  // non-empty: also a CronJob on this schedule
  // Passed to `usp-runtime backfill --from/--to`: epoch ms, RFC 3339, `now`
  // or `now-DURATION` (e.g. now-24h).
  std::string backfill_from = "now-24h";
  std::string backfill_to = "now";
  bool to_stdout = false;  // one YAML stream of the manifests on stdout, no files
  monitoring::AlertThresholds thresholds;
  // A values file of the usp Helm chart (--values), as JSON: what the chart
  // passes to the operator for worker pods is used the same way here —
  // kafka.bootstrap, image.repository/tag/pullPolicy, imagePullSecrets,
  // workers.resources, workers.httpPort, workers.preStopSleepSeconds. Null:
  // none. Explicit options win.
  nlohmann::json helm_values;
  std::string values_file;  // read by RunGenerate into helm_values
};

struct GeneratedFile {
  std::string name;      // "searches.worker.yaml", "dashboards/searches.dashboard.json"
  std::string content;   // YAML (or JSON for the dashboard)
  bool manifest = true;  // Kubernetes objects (false: the dashboard)
};

// JSON -> YAML block style, keys of objects in order except that apiVersion,
// kind, metadata, name, namespace and alert come first. Strings that would read back as another
// type (numbers, booleans, null, YAML 1.1 yes/no/on/off) or are empty are quoted, so
// YamlDocumentsToJson(ToYaml(x)) == x.
std::string ToYaml(const nlohmann::json& doc);

// The files of one valid resource. `all` (every resource of FILE) resolves
// the output topics of the UserSignals a segment or session job reads; one
// that is absent is assumed to write usp.signal.<name> (a note goes to
// `notes`). Errors name the option or field.
Result<std::vector<GeneratedFile>> GenerateFiles(const LoadedResource& resource,
                                                 const std::vector<LoadedResource>& all,
                                                 const GenerateOptions& options,
                                                 std::vector<std::string>* notes = nullptr);

// Loads FILE, validates every resource (errors: "<file>#<doc>: <field>: ..."),
// writes the files and prints each path written. Exit code: 0, 1 (invalid
// resource or option), 2 (I/O).
int RunGenerate(const GenerateOptions& options);

}  // namespace usp
