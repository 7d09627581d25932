#include "cli/generate.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/monitoring/alert_rules.h"
#include "operator/reconcile/job_kind.h"
#include "operator/reconcile/workload.h"

namespace usp {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const std::string kExamples = USP_EXAMPLES_DIR;

std::vector<LoadedResource> Load(const std::string& yaml) {
  auto loaded = LoadResources(yaml, "test.yaml");
  EXPECT_TRUE(loaded.ok()) << loaded.status().message();
  return loaded.ok() ? *loaded : std::vector<LoadedResource>{};
}

std::vector<LoadedResource> LoadPath(const fs::path& path) {
  auto loaded = LoadResourcesFromPath(path);
  EXPECT_TRUE(loaded.ok()) << loaded.status().message();
  return loaded.ok() ? *loaded : std::vector<LoadedResource>{};
}

std::map<std::string, GeneratedFile> Generate(const LoadedResource& r,
                                              const std::vector<LoadedResource>& all,
                                              const GenerateOptions& o = {},
                                              std::vector<std::string>* notes = nullptr) {
  auto files = GenerateFiles(r, all, o, notes);
  EXPECT_TRUE(files.ok()) << files.status().message();
  std::map<std::string, GeneratedFile> out;
  if (files.ok()) {
    for (auto& f : *files) out[f.name] = f;
  }
  return out;
}

std::vector<json> Docs(const std::string& yaml) {
  auto docs = YamlDocumentsToJson(yaml);
  EXPECT_TRUE(docs.ok()) << docs.status().message() << "\n" << yaml;
  return docs.ok() ? *docs : std::vector<json>{};
}

const char* kSegmentFile = R"(
apiVersion: usp.dev/v1alpha1
kind: UserSignal
metadata: {name: searches}
spec:
  eventSources: [{kafkaTopic: events.search}]
  outputTopic: custom.searches
---
apiVersion: usp.dev/v1alpha1
kind: UserSegment
metadata: {name: planners, namespace: team-a}
spec:
  enter: {signals: [searches]}
  exit: {signals: [bookings]}
  expireAfter: 14d
)";

TEST(Generate, WritesTheFiveFilesOfAResource) {
  auto all = LoadPath(fs::path(kExamples) / "searches.yaml");
  ASSERT_EQ(all.size(), 1u);
  auto files = Generate(all[0], all);
  std::vector<std::string> names;
  for (const auto& [name, f] : files) names.push_back(name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"dashboards/searches.dashboard.json",
                                      "searches.backfill-job.yaml", "searches.prometheusrule.yaml",
                                      "searches.resource.yaml", "searches.worker.yaml"}));
  EXPECT_FALSE(files["dashboards/searches.dashboard.json"].manifest);
  EXPECT_TRUE(files["searches.worker.yaml"].manifest);
}

TEST(Generate, NormalizedResourceLoadsValidatesAndRoundTripsForEveryExample) {
  auto all = LoadPath(kExamples);
  ASSERT_GE(all.size(), 5u);
  for (const auto& r : all) {
    auto files = Generate(r, all);
    const std::string normalized = files[r.name + ".resource.yaml"].content;
    auto again = LoadResources(normalized, r.name + ".resource.yaml");
    ASSERT_TRUE(again.ok()) << again.status().message();
    ASSERT_EQ(again->size(), 1u);
    EXPECT_TRUE((*again)[0].valid()) << normalized;
    EXPECT_EQ((*again)[0].kind, r.kind);
    // Every default is present: the normalized document is the worker config.
    FieldErrors errors;
    auto job = op::FindJobKind(r.kind)->parse(r.document, &errors);
    ASSERT_TRUE(job);
    json expected = job->config;
    if (expected["spec"].value("type", "") == "left_join") {
      // The CRD forbids these fields on a left_join (x-kubernetes-validations).
      EXPECT_EQ(expected["spec"]["eventSources"], json::array());
      expected["spec"].erase("eventSources");
      if (expected["spec"].contains("lookups")) expected["spec"].erase("lookups");
    }
    EXPECT_EQ((*again)[0].document, expected) << r.source;
    auto files2 = Generate((*again)[0], *again);
    EXPECT_EQ(files2[r.name + ".resource.yaml"].content, normalized) << r.source;
  }
}

TEST(Generate, DefaultsAreFilledIn) {
  auto all = Load(
      "apiVersion: usp.dev/v1alpha1\nkind: UserSignal\nmetadata: {name: s}\n"
      "spec: {eventSources: [{kafkaTopic: t}]}\n");
  json doc = Docs(Generate(all[0], all)["s.resource.yaml"].content)[0];
  EXPECT_EQ(doc["metadata"]["namespace"], "default");
  EXPECT_EQ(doc["spec"]["outputTopic"], "usp.signal.s");
  EXPECT_EQ(doc["spec"]["deadLetterTopic"], "usp.dlq.s");
  EXPECT_EQ(doc["spec"]["onError"], "deadLetter");
  EXPECT_EQ(doc["spec"]["parallelism"], 1);
  EXPECT_EQ(doc["spec"]["standbyReplicas"], 1);
  EXPECT_EQ(doc["spec"]["userIdField"], "/user_id");
  EXPECT_TRUE(doc["spec"].contains("failover"));
}

TEST(Generate, WorkerFileIsExactlyTheOperatorsConfigMapAndDeployment) {
  auto all = LoadPath(fs::path(kExamples) / "searches.yaml");
  GenerateOptions o;
  o.image = "registry.example/usp:1.2.3";
  o.brokers = "broker-0:9092,broker-1:9092";
  o.ns = "team-b";
  auto docs = Docs(Generate(all[0], all, o)["searches.worker.yaml"].content);
  ASSERT_EQ(docs.size(), 2u);

  json doc = all[0].document;
  doc["metadata"]["namespace"] = "team-b";
  FieldErrors errors;
  auto job = op::UserSignalKind().parse(doc, &errors);
  ASSERT_TRUE(job);
  op::WorkerOptions w;
  w.image = o.image;
  w.kafka_bootstrap = o.brokers;
  const std::string config = job->config.dump(2) + "\n";
  json cm = op::DesiredConfigMap(job->config, config, w);
  json dep = op::DesiredDeployment(job->config, job->parallelism + job->standby_replicas,
                                   op::ConfigHash(config), w, op::JobWorkerArgs(*job, {}));
  cm["metadata"].erase("ownerReferences");
  dep["metadata"].erase("ownerReferences");
  EXPECT_EQ(docs[0], cm);
  EXPECT_EQ(docs[1], dep);
  EXPECT_EQ(docs[1]["metadata"]["namespace"], "team-b");
  EXPECT_EQ(docs[1]["spec"]["template"]["spec"]["containers"][0]["image"],
            "registry.example/usp:1.2.3");
}

TEST(Generate, SegmentWorkersGetTheSignalTopicsFoundInTheFileAndANoteForMissingOnes) {
  auto all = Load(kSegmentFile);
  ASSERT_EQ(all.size(), 2u);
  std::vector<std::string> notes;
  auto docs = Docs(Generate(all[1], all, {}, &notes)["planners.worker.yaml"].content);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[1]["metadata"]["name"], "usp-segment-planners");
  EXPECT_EQ(docs[1]["metadata"]["namespace"], "team-a");
  const json args = docs[1]["spec"]["template"]["spec"]["containers"][0]["args"];
  EXPECT_NE(std::find(args.begin(), args.end(), "--signal-topic=searches=custom.searches"),
            args.end())
      << args;
  EXPECT_NE(std::find(args.begin(), args.end(), std::string("--state-dir=") + op::kStateDir),
            args.end())
      << args;
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("spec.exit.signals[0]: UserSignal \"bookings\" is not in the input"),
            std::string::npos)
      << notes[0];
}

TEST(Generate, BackfillJobRunsUspRuntimeBackfillWithRestrictedSecurity) {
  auto all = LoadPath(fs::path(kExamples) / "searches.yaml");
  GenerateOptions o;
  o.brokers = "kafka.example:9092";
  o.backfill_from = "2026-11-01T00:00:00Z";
  o.backfill_to = "1764547200000";
  auto docs = Docs(Generate(all[0], all, o)["searches.backfill-job.yaml"].content);
  ASSERT_EQ(docs.size(), 1u) << "no CronJob without --cronjob";
  const json& job = docs[0];
  EXPECT_EQ(job["apiVersion"], "batch/v1");
  EXPECT_EQ(job["kind"], "Job");
  EXPECT_EQ(job["metadata"]["name"], "usp-searches-backfill");
  const json& pod = job["spec"]["template"]["spec"];
  EXPECT_EQ(pod["restartPolicy"], "Never");
  const json& c = pod["containers"][0];
  EXPECT_EQ(c["command"], json::array({"usp-runtime"}));
  EXPECT_EQ(c["args"], json::array({"backfill", "--resources", "/etc/usp/job.json", "--job",
                                    "searches", "--brokers", "kafka.example:9092", "--from",
                                    "2026-11-01T00:00:00Z", "--to", "1764547200000", "--to-topic",
                                    "--checkpoint", "/var/lib/usp/backfill/checkpoint.json"}));
  EXPECT_EQ(c["securityContext"]["runAsNonRoot"], true);
  EXPECT_EQ(c["securityContext"]["readOnlyRootFilesystem"], true);
  EXPECT_EQ(c["securityContext"]["allowPrivilegeEscalation"], false);
  EXPECT_EQ(c["securityContext"]["capabilities"]["drop"], json::array({"ALL"}));
  EXPECT_EQ(c["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
  EXPECT_EQ(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
  EXPECT_TRUE(c["resources"]["requests"].contains("cpu"));
  EXPECT_TRUE(c["resources"]["requests"].contains("memory"));
  // The resource comes from the worker ConfigMap; the checkpoint dir is writable.
  EXPECT_EQ(pod["volumes"][0]["configMap"]["name"], "usp-searches");
  EXPECT_EQ(c["volumeMounts"][0]["mountPath"], "/etc/usp");
  EXPECT_EQ(c["volumeMounts"][1]["mountPath"], "/var/lib/usp");
  EXPECT_TRUE(pod["volumes"][1].contains("emptyDir"));
  // Backfill pods are not worker pods (the failover controller selects those).
  EXPECT_EQ(job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"],
            "usp-backfill");
}

TEST(Generate, CronJobRunsTheSameBackfillOnTheSchedule) {
  auto all = LoadPath(fs::path(kExamples) / "searches.yaml");
  GenerateOptions o;
  o.cron_schedule = "0 3 * * *";
  auto docs = Docs(Generate(all[0], all, o)["searches.backfill-job.yaml"].content);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[1]["kind"], "CronJob");
  EXPECT_EQ(docs[1]["spec"]["schedule"], "0 3 * * *");
  EXPECT_EQ(docs[1]["spec"]["concurrencyPolicy"], "Forbid");
  EXPECT_EQ(docs[1]["spec"]["jobTemplate"]["spec"]["template"], docs[0]["spec"]["template"]);
  EXPECT_EQ(docs[1]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"][8],
            "now-24h");
}

TEST(Generate, PrometheusRuleAndDashboardAreTheMonitoringBuilders) {
  auto all = Load(kSegmentFile);
  GenerateOptions o;
  o.thresholds.latency_seconds = 5;
  auto files = Generate(all[1], all, o);
  auto rule = Docs(files["planners.prometheusrule.yaml"].content);
  ASSERT_EQ(rule.size(), 1u);
  EXPECT_EQ(rule[0],
            monitoring::PrometheusRule({"UserSegment", "planners", "team-a"}, o.thresholds));
  json dashboard = json::parse(files["dashboards/planners.dashboard.json"].content);
  EXPECT_GE(dashboard["schemaVersion"].get<int>(), 36);
  EXPECT_EQ(dashboard["uid"], "usp-usersegment-planners");
}

TEST(Generate, BadOptionsAreNamedByTheirFlag) {
  auto all = LoadPath(fs::path(kExamples) / "searches.yaml");
  auto error = [&](GenerateOptions o) {
    auto r = GenerateFiles(all[0], all, o);
    return r.ok() ? std::string("ok") : r.status().message();
  };
  GenerateOptions o;
  o.backfill_from = "yesterday";
  EXPECT_EQ(error(o).rfind("--backfill-from: \"yesterday\"", 0), 0u) << error(o);
  o = {};
  o.backfill_to = "now-3x";
  EXPECT_EQ(error(o).rfind("--backfill-to:", 0), 0u) << error(o);
  o = {};
  o.cron_schedule = "every day";
  EXPECT_EQ(error(o).rfind("--cronjob:", 0), 0u) << error(o);
  o = {};
  o.thresholds.latency_quantile = 2;
  EXPECT_EQ(error(o).rfind("--latency-quantile:", 0), 0u) << error(o);
  o = {};
  o.helm_values = {{"workers", {{"httpPort", "80"}}}};
  EXPECT_EQ(error(o), "--values: workers.httpPort: must be an integer");
  o = {};
  o.cron_schedule = "@daily";
  EXPECT_EQ(error(o), "ok");
}

TEST(Generate, HelmValuesGiveTheWorkerSettingsTheChartGivesTheOperator) {
  auto all = LoadPath(fs::path(kExamples) / "searches.yaml");
  GenerateOptions o;
  o.helm_values = json::parse(R"({
    "image": {"repository": "registry.example/usp", "tag": "0.9.0", "pullPolicy": "Always"},
    "imagePullSecrets": [{"name": "regcred"}],
    "kafka": {"bootstrap": "kafka.prod:9093"},
    "workers": {"resources": {"requests": {"cpu": "1"}}, "httpPort": 9000, "preStopSleepSeconds": 0}
  })");
  auto files = Generate(all[0], all, o);
  auto worker = Docs(files["searches.worker.yaml"].content);
  ASSERT_EQ(worker.size(), 2u);
  const json& pod = worker[1]["spec"]["template"]["spec"];
  const json& c = pod["containers"][0];
  EXPECT_EQ(c["image"], "registry.example/usp:0.9.0");
  EXPECT_EQ(c["imagePullPolicy"], "Always");
  EXPECT_EQ(pod["imagePullSecrets"], json::parse(R"([{"name": "regcred"}])"));
  EXPECT_EQ(c["resources"], json::parse(R"({"requests": {"cpu": "1"}})"));
  EXPECT_EQ(c["ports"][0]["containerPort"], 9000);
  EXPECT_FALSE(c.contains("lifecycle"));
  EXPECT_EQ(c["args"][2], "--bootstrap=kafka.prod:9093");
  auto job = Docs(files["searches.backfill-job.yaml"].content)[0];
  EXPECT_EQ(job["spec"]["template"]["spec"]["containers"][0]["args"][6], "kafka.prod:9093");
  EXPECT_EQ(job["spec"]["template"]["spec"]["containers"][0]["image"],
            "registry.example/usp:0.9.0");

  // Explicit options win over the values.
  o.brokers = "override:9092";
  o.image = "mine:1";
  files = Generate(all[0], all, o);
  worker = Docs(files["searches.worker.yaml"].content);
  EXPECT_EQ(worker[1]["spec"]["template"]["spec"]["containers"][0]["args"][2],
            "--bootstrap=override:9092");
  EXPECT_EQ(worker[1]["spec"]["template"]["spec"]["containers"][0]["image"], "mine:1");
  job = Docs(files["searches.backfill-job.yaml"].content)[0];
  EXPECT_EQ(job["spec"]["template"]["spec"]["containers"][0]["args"][6], "override:9092");

  // Without values or --brokers: the chart's default bootstrap.
  files = Generate(all[0], all, {});
  worker = Docs(files["searches.worker.yaml"].content);
  EXPECT_EQ(worker[1]["spec"]["template"]["spec"]["containers"][0]["args"][2],
            "--bootstrap=kafka:9092");
}

TEST(Generate, InvalidResourceErrorsNameTheSourceAndField) {
  auto all = Load(
      "apiVersion: usp.dev/v1alpha1\nkind: UserSignal\nmetadata: {name: s}\n"
      "spec: {eventSources: [{kafkaTopic: t}], onError: explode}\n");
  ASSERT_EQ(all.size(), 1u);
  auto r = GenerateFiles(all[0], all, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("test.yaml#0: spec.onError"), std::string::npos)
      << r.status().message();
}

TEST(ToYaml, StringsThatLookLikeOtherTypesStayStrings) {
  json doc = {{"apiVersion", "v1"},
              {"kind", "X"},
              {"s", json::array({"123",      "1.5",   "true",   "no",  "on",    "null",
                                 "~",        "",      "0x1F",   "1e3", " lead", "plain text",
                                 "a: b",     "#hash", "- dash", "{x}", "[y]",   "multi\nline\n",
                                 "quote\"d", "12:30"})},
              {"n", 42},
              {"f", 0.25},
              {"b", false},
              {"empty_map", json::object()},
              {"empty_list", json::array()},
              {"nested", {{"k", {{"deep", json::array({1, "2", {{"x", nullptr}}})}}}}}};
  const std::string yaml = ToYaml(doc);
  auto back = Docs(yaml);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0], doc) << yaml;
  EXPECT_EQ(yaml.rfind("apiVersion: v1\nkind: X\n", 0), 0u) << yaml;
}

TEST(RunGenerate, WritesEveryResourceIntoItsDirectory) {
  fs::path dir = fs::temp_directory_path() / ("usp-generate-test-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  { std::ofstream(dir / "in.yaml") << kSegmentFile; }
  GenerateOptions o;
  o.file = (dir / "in.yaml").string();
  o.out_dir = (dir / "out").string();
  EXPECT_EQ(RunGenerate(o), 0);
  for (const char* f :
       {"searches.resource.yaml", "searches.worker.yaml", "searches.backfill-job.yaml",
        "searches.prometheusrule.yaml", "dashboards/searches.dashboard.json",
        "planners.resource.yaml", "dashboards/planners.dashboard.json"}) {
    EXPECT_TRUE(fs::exists(dir / "out" / f)) << f;
  }
  // A bad option writes nothing.
  o.out_dir = (dir / "out2").string();
  o.backfill_from = "soon";
  EXPECT_EQ(RunGenerate(o), 1);
  EXPECT_FALSE(fs::exists(dir / "out2"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace usp
