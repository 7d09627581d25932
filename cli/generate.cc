#include "cli/generate.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "core/duration.h"
#include "core/event_time.h"
#include "core/monitoring/dashboard.h"
#include "operator/kube/object.h"
#include "operator/reconcile/job_kind.h"
#include "operator/reconcile/workload.h"

namespace usp {

using nlohmann::json;

namespace {

constexpr const char* kBackfillCheckpoint = "/var/lib/usp/backfill/checkpoint.json";

// Plain scalars a YAML reader (ours: core schema; kubectl's: YAML 1.1) would
// not read back as this string.
bool NeedsQuotes(const std::string& s) {
  static const std::regex kNonString(
      "^(|~|null|Null|NULL|true|True|TRUE|false|False|FALSE|y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|"
      "off|Off|"
      "OFF|[-+]?[0-9][0-9_]*|0o[0-7]+|0x[0-9a-fA-F]+|[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?["
      "0-9]+)?|"
      "[-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|NAN)|[0-9]+(:[0-5]?[0-9])+)$");
  return std::regex_match(s, kNonString) || s.front() == ' ' || s.back() == ' ';
}

void Emit(YAML::Emitter& out, const json& v) {
  switch (v.type()) {
    case json::value_t::object: {
      if (v.empty()) {
        out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
        return;
      }
      out << YAML::BeginMap;
      // Kubernetes order first: apiVersion, kind, metadata; name, namespace.
      std::vector<std::string> keys;
      for (const char* k : {"apiVersion", "kind", "metadata", "name", "namespace", "alert"}) {
        if (v.contains(k)) keys.push_back(k);
      }
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (std::find(keys.begin(), keys.end(), it.key()) == keys.end()) keys.push_back(it.key());
      }
      for (const auto& k : keys) {
        out << YAML::Key;
        if (NeedsQuotes(k)) {
          out << YAML::DoubleQuoted << k;
        } else {
          out << k;
        }
        out << YAML::Value;
        Emit(out, v[k]);
      }
      out << YAML::EndMap;
      return;
    }
    case json::value_t::array:
      if (v.empty()) {
        out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
        return;
      }
      out << YAML::BeginSeq;
      for (const auto& item : v) Emit(out, item);
      out << YAML::EndSeq;
      return;
    case json::value_t::string: {
      const std::string& s = v.get_ref<const std::string&>();
      if (s.empty() || NeedsQuotes(s)) {
        out << YAML::DoubleQuoted << s;
      } else if (s.find('\n') != std::string::npos && s.find(" \n") == std::string::npos &&
                 s.find('\t') == std::string::npos && s.front() != ' ' && s.back() == '\n' &&
                 s.find("\n\n") == std::string::npos) {
        out << YAML::Literal << s;
      } else {
        out << s;
      }
      return;
    }
    case json::value_t::boolean:
      out << v.get<bool>();
      return;
    case json::value_t::number_integer:
      out << v.get<int64_t>();
      return;
    case json::value_t::number_unsigned:
      out << v.get<uint64_t>();
      return;
    case json::value_t::number_float:
      out << v.get<double>();
      return;
    default:
      out << YAML::Null;
      return;
  }
}

std::string ManifestStream(const std::vector<json>& docs) {
  std::string out;
  for (size_t i = 0; i < docs.size(); ++i) {
    if (i > 0) out += "---\n";
    out += ToYaml(docs[i]);
  }
  return out;
}

// An absolute time (epoch ms, RFC 3339) or one relative to the run (now,
// now-DURATION), as usp-runtime backfill reads it.
bool IsBackfillTime(const std::string& t) {
  if (t == "now") return true;
  if (t.rfind("now-", 0) == 0) return ParseDurationMs(t.substr(4)).ok();
  if (!t.empty() &&
      std::all_of(t.begin(), t.end(), [](unsigned char c) { return std::isdigit(c); }))
    return true;
  return ParseRfc3339Ms(t).ok();
}

// Five cron fields, or a macro such as @daily.
bool IsCronSchedule(const std::string& s) {
  if (!s.empty() && s[0] == '@') {
    static const std::set<std::string> kMacros = {"@yearly", "@annually", "@monthly", "@weekly",
                                                  "@daily",  "@midnight", "@hourly"};
    return kMacros.count(s) > 0;
  }
  std::istringstream in(s);
  std::string field;
  int n = 0;
  static const std::regex kField("^[0-9A-Za-z*/,?-]+$");
  while (in >> field) {
    if (!std::regex_match(field, kField)) return false;
    ++n;
  }
  return n == 5;
}

// The worker settings the chart's values give the operator
// (templates/operator-deployment.yaml), on top of the operator's defaults.
Status ApplyHelmValues(const json& values, op::WorkerOptions* w) {
  if (values.is_null()) return Status::Ok();
  if (!values.is_object())
    return Status::InvalidArgument("--values: not a mapping of chart values");
  auto at = [&](std::initializer_list<const char*> path) -> const json* {
    const json* node = &values;
    for (const char* key : path) {
      if (!node->is_object() || !node->contains(key)) return nullptr;
      node = &(*node)[key];
    }
    return node->is_null() ? nullptr : node;
  };
  auto string_at = [&](std::initializer_list<const char*> path, const char* name,
                       std::string* out) -> Status {
    const json* v = at(path);
    if (v == nullptr) return Status::Ok();
    if (!v->is_string()) {
      return Status::InvalidArgument(std::string("--values: ") + name + ": must be a string");
    }
    *out = v->get<std::string>();
    return Status::Ok();
  };
  USP_RETURN_IF_ERROR(string_at({"kafka", "bootstrap"}, "kafka.bootstrap", &w->kafka_bootstrap));
  std::string repository, tag;
  USP_RETURN_IF_ERROR(string_at({"image", "repository"}, "image.repository", &repository));
  USP_RETURN_IF_ERROR(string_at({"image", "tag"}, "image.tag", &tag));
  // Without a tag the chart uses its appVersion, which a values file does not hold.
  if (!repository.empty() && !tag.empty()) w->image = repository + ":" + tag;
  USP_RETURN_IF_ERROR(
      string_at({"image", "pullPolicy"}, "image.pullPolicy", &w->image_pull_policy));
  if (const json* secrets = at({"imagePullSecrets"})) {
    if (!secrets->is_array()) {
      return Status::InvalidArgument("--values: imagePullSecrets: must be a list");
    }
    for (const auto& item : *secrets) {
      if (item.is_string()) {
        w->image_pull_secrets.push_back(item.get<std::string>());
      } else if (item.is_object() && item.contains("name") && item["name"].is_string()) {
        w->image_pull_secrets.push_back(item["name"].get<std::string>());
      } else {
        return Status::InvalidArgument(
            "--values: imagePullSecrets: items are names or {name: ...}");
      }
    }
  }
  if (const json* r = at({"workers", "resources"})) {
    if (!r->is_object()) {
      return Status::InvalidArgument("--values: workers.resources: must be a mapping");
    }
    w->resources = *r;
  }
  for (const auto& [key, field] : {std::pair<const char*, int*>{"httpPort", &w->http_port},
                                   {"preStopSleepSeconds", &w->prestop_sleep_seconds}}) {
    if (const json* v = at({"workers", key})) {
      if (!v->is_number_integer()) {
        return Status::InvalidArgument(std::string("--values: workers.") + key +
                                       ": must be an integer");
      }
      *field = v->get<int>();
    }
  }
  return Status::Ok();
}

Status ValidateOptions(const GenerateOptions& o) {
  if (!IsBackfillTime(o.backfill_from)) {
    return Status::InvalidArgument("--backfill-from: \"" + o.backfill_from +
                                   "\" is not a time (epoch ms, RFC 3339, now or now-DURATION)");
  }
  if (!IsBackfillTime(o.backfill_to)) {
    return Status::InvalidArgument("--backfill-to: \"" + o.backfill_to +
                                   "\" is not a time (epoch ms, RFC 3339, now or now-DURATION)");
  }
  if (!o.cron_schedule.empty() && !IsCronSchedule(o.cron_schedule)) {
    return Status::InvalidArgument(
        "--cronjob: \"" + o.cron_schedule +
        "\" is not a cron schedule (five fields such as \"0 3 * * *\", or @daily)");
  }
  Status t = monitoring::Validate(o.thresholds);
  if (!t.ok()) {
    // The thresholds' fields are the flags' names: latency_seconds -> --latency-seconds.
    std::string msg = t.message();
    size_t colon = msg.find(':');
    std::string flag = msg.substr(0, colon);
    std::replace(flag.begin(), flag.end(), '_', '-');
    return Status::InvalidArgument("--" + flag + msg.substr(colon));
  }
  return Status::Ok();
}

json BackfillLabels(const std::string& kind, const std::string& job) {
  return {{"app.kubernetes.io/name", "usp-backfill"},
          {"app.kubernetes.io/component", "backfill"},
          {"app.kubernetes.io/managed-by", "uspctl"},
          {op::kJobLabel, job},
          {op::kKindLabel, kind}};
}

// The Job's spec: one pod running `usp-runtime backfill` with the worker
// ConfigMap mounted, restricted security, a writable emptyDir for the
// checkpoint.
json BackfillJobSpec(const json& config, const op::WorkerOptions& w, const GenerateOptions& o) {
  const std::string kind = config.value("kind", "");
  const std::string job = kube::Name(config);
  json args = json::array({"backfill", "--resources",
                           std::string(op::kConfigMountPath) + "/" + op::kJobConfigKey, "--job",
                           job, "--brokers", o.brokers, "--from", o.backfill_from, "--to",
                           o.backfill_to, "--to-topic", "--checkpoint", kBackfillCheckpoint});
  for (const auto& p : w.kafka_properties) {
    args.push_back("-X");
    args.push_back(p);
  }
  json container = {
      {"name", "backfill"},
      {"image", w.image},
      {"imagePullPolicy", w.image_pull_policy},
      {"command", json::array({w.command})},
      {"args", args},
      {"resources",
       {{"requests", {{"cpu", "500m"}, {"memory", "512Mi"}}}, {"limits", {{"memory", "1Gi"}}}}},
      {"volumeMounts",
       json::array({{{"name", "config"}, {"mountPath", op::kConfigMountPath}, {"readOnly", true}},
                    {{"name", "work"}, {"mountPath", "/var/lib/usp"}},
                    {{"name", "tmp"}, {"mountPath", "/tmp"}}})},
      {"securityContext",
       {{"allowPrivilegeEscalation", false},
        {"privileged", false},
        {"readOnlyRootFilesystem", true},
        {"runAsNonRoot", true},
        {"runAsUser", w.run_as_user},
        {"runAsGroup", w.run_as_user},
        {"capabilities", {{"drop", json::array({"ALL"})}}},
        {"seccompProfile", {{"type", "RuntimeDefault"}}}}},
  };
  json pod_spec = {
      {"restartPolicy", "Never"},
      {"automountServiceAccountToken", false},
      {"enableServiceLinks", false},
      {"securityContext",
       {{"runAsNonRoot", true},
        {"runAsUser", w.run_as_user},
        {"runAsGroup", w.run_as_user},
        {"fsGroup", w.run_as_user},
        {"seccompProfile", {{"type", "RuntimeDefault"}}}}},
      {"containers", json::array({container})},
      {"volumes",
       json::array({{{"name", "config"}, {"configMap", {{"name", op::WorkloadName(kind, job)}}}},
                    {{"name", "work"}, {"emptyDir", json::object()}},
                    {{"name", "tmp"}, {"emptyDir", json::object()}}})},
  };
  return {
      {"backoffLimit", 2},
      {"ttlSecondsAfterFinished", 86400},
      {"template", {{"metadata", {{"labels", BackfillLabels(kind, job)}}}, {"spec", pod_spec}}}};
}

json BackfillMetadata(const json& config) {
  const std::string kind = config.value("kind", "");
  const std::string job = kube::Name(config);
  return {{"name", op::WorkloadName(kind, job) + "-backfill"},
          {"namespace", kube::Namespace(config)},
          {"labels", BackfillLabels(kind, job)}};
}

void StripOwnerReferences(json* obj) { (*obj)["metadata"].erase("ownerReferences"); }

// The normalized document as the CRD admits it: a left_join UserSignal has
// no eventSources or lookups at all (the CRD forbids the fields, even
// empty), while the worker config lists them empty.
json ForApiServer(json config) {
  json& spec = config["spec"];
  if (config.value("kind", "") == "UserSignal" && spec.value("type", "") == "left_join") {
    for (const char* field : {"eventSources", "lookups"}) {
      if (spec.contains(field) && spec[field].empty()) spec.erase(field);
    }
  }
  return config;
}

std::string JoinErrors(const std::string& source, const FieldErrors& errors) {
  std::string out;
  for (const auto& e : errors) {
    if (!out.empty()) out += "\n";
    out += source + ": " + e.ToString();
  }
  return out;
}

}  // namespace

std::string ToYaml(const json& doc) {
  YAML::Emitter out;
  out.SetIndent(2);
  out.SetSeqFormat(YAML::Block);
  out.SetMapFormat(YAML::Block);
  Emit(out, doc);
  std::string s = out.c_str();
  if (s.empty() || s.back() != '\n') s += '\n';
  return s;
}

Result<std::vector<GeneratedFile>> GenerateFiles(const LoadedResource& resource,
                                                 const std::vector<LoadedResource>& all,
                                                 const GenerateOptions& options,
                                                 std::vector<std::string>* notes) {
  USP_RETURN_IF_ERROR(ValidateOptions(options));
  const op::JobKind* kind = op::FindJobKind(resource.kind);
  if (kind == nullptr)
    return Status::InvalidArgument(resource.source + ": kind: " + resource.kind +
                                   " is not a job kind");
  json doc = resource.document;
  if (!options.ns.empty() && doc.is_object()) doc["metadata"]["namespace"] = options.ns;
  FieldErrors errors;
  auto job = kind->parse(doc, &errors);
  if (!job) return Status::InvalidArgument(JoinErrors(resource.source, errors));
  const json& config = job->config;
  const std::string name = kube::Name(config);
  const std::string ns = kube::Namespace(config);

  // The output topics of the UserSignals the job reads, from FILE.
  std::vector<std::pair<std::string, std::string>> topics;
  for (const auto& ref : job->signals) {
    bool found = false;
    for (const auto& other : all) {
      if (other.kind == "UserSignal" && other.name == ref.name) {
        topics.emplace_back(ref.name, op::SignalOutputTopic(other.document));
        found = true;
        break;
      }
    }
    if (!found && notes != nullptr) {
      notes->push_back(resource.source + ": " + ref.field + ": UserSignal \"" + ref.name +
                       "\" is not in the input; assuming it writes usp.signal." + ref.name);
    }
  }

  op::WorkerOptions worker;
  worker.kafka_bootstrap = "kafka:9092";
  USP_RETURN_IF_ERROR(ApplyHelmValues(options.helm_values, &worker));
  if (!options.image.empty()) worker.image = options.image;
  if (!options.brokers.empty()) worker.kafka_bootstrap = options.brokers;
  GenerateOptions effective = options;
  effective.brokers = worker.kafka_bootstrap;
  const std::string job_config = config.dump(2) + "\n";
  json cm = op::DesiredConfigMap(config, job_config, worker);
  json deployment =
      op::DesiredDeployment(config, job->parallelism + job->standby_replicas,
                            op::ConfigHash(job_config), worker, op::JobWorkerArgs(*job, topics));
  StripOwnerReferences(&cm);
  StripOwnerReferences(&deployment);

  std::vector<json> backfill;
  backfill.push_back({{"apiVersion", "batch/v1"},
                      {"kind", "Job"},
                      {"metadata", BackfillMetadata(config)},
                      {"spec", BackfillJobSpec(config, worker, effective)}});
  if (!options.cron_schedule.empty()) {
    json spec = BackfillJobSpec(config, worker, effective);
    spec.erase("ttlSecondsAfterFinished");
    backfill.push_back(
        {{"apiVersion", "batch/v1"},
         {"kind", "CronJob"},
         {"metadata", BackfillMetadata(config)},
         {"spec",
          {{"schedule", options.cron_schedule},
           {"concurrencyPolicy", "Forbid"},
           {"successfulJobsHistoryLimit", 3},
           {"failedJobsHistoryLimit", 3},
           {"jobTemplate",
            {{"metadata", {{"labels", BackfillLabels(resource.kind, name)}}}, {"spec", spec}}}}}});
  }

  const monitoring::JobRef ref{resource.kind, name, ns};
  std::vector<GeneratedFile> files;
  files.push_back({name + ".resource.yaml", ToYaml(ForApiServer(config)), true});
  files.push_back({name + ".worker.yaml", ManifestStream({cm, deployment}), true});
  files.push_back({name + ".backfill-job.yaml", ManifestStream(backfill), true});
  files.push_back({name + ".prometheusrule.yaml",
                   ToYaml(monitoring::PrometheusRule(ref, options.thresholds)), true});
  // In a subdirectory, so that `kubectl apply -f DIR` takes DIR's manifests.
  files.push_back({std::string("dashboards/") + name + ".dashboard.json",
                   monitoring::GrafanaDashboard(ref).dump(2) + "\n", false});
  return files;
}

int RunGenerate(const GenerateOptions& given) {
  GenerateOptions options = given;
  if (!options.values_file.empty()) {
    std::ifstream in(options.values_file);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) {
      std::cerr << options.values_file << ": cannot read\n";
      return 1;
    }
    auto docs = YamlDocumentsToJson(text.str());
    if (!docs.ok() || docs->size() != 1) {
      std::cerr << options.values_file << ": "
                << (docs.ok() ? std::string("not one YAML document") : docs.status().message())
                << "\n";
      return 1;
    }
    options.helm_values = (*docs)[0];
  }
  Status valid = ValidateOptions(options);
  if (!valid.ok()) {
    std::cerr << "uspctl generate: " << valid.message() << "\n";
    return 1;
  }
  auto loaded = LoadResourcesFromPath(options.file);
  if (!loaded.ok()) {
    std::cerr << options.file << ": " << loaded.status().message() << "\n";
    return 1;
  }
  if (loaded->empty()) {
    std::cerr << options.file << ": no resources\n";
    return 1;
  }
  int invalid = 0;
  for (const auto& r : *loaded) {
    for (const auto& e : r.errors) std::cerr << r.source << ": " << e.ToString() << "\n";
    if (!r.valid()) ++invalid;
  }
  if (invalid > 0) {
    std::cerr << "uspctl generate: " << invalid << " invalid resource(s); nothing written\n";
    return 1;
  }
  // Build everything before writing anything.
  std::vector<std::pair<std::filesystem::path, std::vector<GeneratedFile>>> plan;
  std::map<std::string, std::string> seen;  // output path of a <name> -> its source
  std::vector<std::string> notes;
  for (const auto& r : *loaded) {
    auto files = GenerateFiles(r, *loaded, options, &notes);
    if (!files.ok()) {
      std::cerr << files.status().message() << "\n";
      return 1;
    }
    std::filesystem::path dir = options.out_dir.empty()
                                    ? std::filesystem::path("generated") / r.name
                                    : std::filesystem::path(options.out_dir);
    const std::string key = (dir / r.name).string();
    if (!options.to_stdout && seen.count(key)) {
      std::cerr << r.source << ": metadata.name: \"" << r.name << "\" is also the name of "
                << seen[key] << "; their files would collide in " << dir.string()
                << " (generate them separately)\n";
      return 1;
    }
    seen[key] = r.source + " (" + r.kind + ")";
    plan.emplace_back(dir, std::move(files).value());
  }
  for (const auto& n : notes) std::cerr << "note: " << n << "\n";

  if (options.to_stdout) {
    bool first = true;
    for (const auto& [dir, files] : plan) {
      for (const auto& f : files) {
        if (!f.manifest) continue;
        std::cout << (first ? "" : "---\n") << "# " << f.name << "\n" << f.content;
        first = false;
      }
    }
    std::cerr
        << "uspctl generate: dashboards are not Kubernetes objects and are left out of --stdout "
           "(use --out-dir)\n";
    return 0;
  }
  for (const auto& [dir, files] : plan) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      std::cerr << "uspctl generate: cannot create " << dir.string() << ": " << ec.message()
                << "\n";
      return 2;
    }
    for (const auto& f : files) {
      std::filesystem::path path = dir / f.name;
      std::filesystem::create_directories(path.parent_path(), ec);
      std::ofstream out(path, std::ios::trunc);
      out << f.content;
      out.close();
      if (!out) {
        std::cerr << "uspctl generate: cannot write " << path.string() << "\n";
        return 2;
      }
      std::cout << path.string() << "\n";
    }
  }
  return 0;
}

}  // namespace usp
