#pragma once
// Test-only helpers of runtime/batch: a resource set with every kind, a
// deterministic event history, and the ONLINE path run over that history
// (SignalWorker and StatefulWorker on fakes, state in a real RocksDB, the
// clock stepped through every timer as a live wall clock would), so tests
// compare the batch rows with what the online workers emitted.

#include <gtest/gtest.h>
#include <stdlib.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/temp_dir_for_test.h"
#include "core/murmur2.h"
#include "core/resource_loader.h"
#include "core/signal_transform.h"
#include "runtime/batch/batch_input.h"
#include "runtime/batch/batch_rows.h"
#include "runtime/common/metrics.h"
#include "runtime/jobs/job_factory.h"
#include "runtime/state/state_store.h"
#include "runtime/stateful/stateful_worker.h"
#include "runtime/worker/signal_worker.h"
#include "runtime/worker/worker_metrics.h"
#include "runtime/worker/worker_test_fakes.h"

namespace usp::batch_testing {

inline constexpr int64_t kT0 = 1'800'000'000'000;  // 2027-01-15
inline constexpr int64_t kMinute = 60'000;
inline constexpr int32_t kPartitions = 4;

inline constexpr char kResourcesYaml[] = R"(apiVersion: usp.dev/v1alpha1
kind: UserSignal
metadata: {name: searches}
spec:
  eventSources: [{kafkaTopic: raw.search}]
  eventIdField: /event_id
  filter: {field: /city, op: exists}
  attributes: {city: /city}
---
apiVersion: usp.dev/v1alpha1
kind: UserSignal
metadata: {name: bookings}
spec:
  eventSources: [{kafkaTopic: raw.booking}]
  eventIdField: /event_id
  attributes: {listing: /listing}
---
apiVersion: usp.dev/v1alpha1
kind: UserSegment
metadata: {name: planner}
spec:
  enter: {signals: [searches]}
  exit: {signals: [bookings]}
  expireAfter: 1h
---
apiVersion: usp.dev/v1alpha1
kind: SessionJob
metadata: {name: browsing}
spec:
  signals: [searches]
  window: {type: session, gap: 10m}
  aggregations:
    - {name: n, fn: count}
    - {name: cities, fn: distinct_count, field: /attributes/city}
  allowedLateness: 1m
---
apiVersion: usp.dev/v1alpha1
kind: SessionJob
metadata: {name: activity}
spec:
  signals: [searches, bookings]
  window: {type: sliding, size: 10m, slide: 5m}
  aggregations:
    - {name: n, fn: count}
  allowedLateness: 1m
---
apiVersion: usp.dev/v1alpha1
kind: UserSignal
metadata: {name: booked-after-search}
spec:
  type: left_join
  leftEventSource: {kafkaTopic: raw.booking, joinKeyField: /user_id}
  rightEventSource: {kafkaTopic: raw.search, joinKeyField: /user_id}
  joinWindow: 24h
  userIdField: /left/user_id
  eventTimeField: /left/event_time
  eventIdField: /left/event_id
  attributes: {listing: /left/listing, city: /right/city}
)";

// A fresh temporary directory, removed by the destructor.
using testing::TempDir;

inline std::vector<LoadedResource> LoadTestResources(const std::string& yaml = kResourcesYaml) {
  auto loaded = LoadResources(yaml, "test.yaml");
  EXPECT_TRUE(loaded.ok()) << loaded.status().ToString();
  return loaded.ok() ? *loaded : std::vector<LoadedResource>{};
}

// One raw event with the time it happens (= its Kafka timestamp).
struct Event {
  int64_t time;
  BatchInputRecord record;
};

inline std::string SearchJson(const std::string& user, int64_t time, const std::string& city,
                              const std::string& id) {
  return nlohmann::json{{"event_id", id}, {"user_id", user}, {"event_time", time}, {"city", city}}
      .dump();
}

// A history over ~3 hours for 4 users: searches in bursts (sessions split
// on the 10m gap), bookings that take u2 and u4 out of the segment, gaps longer
// than 1h so memberships expire mid-stream, an event without city
// (filtered) and a bad one (invalid). Offsets count per topic (partition 0).
inline std::vector<Event> History() {
  std::vector<Event> events;
  std::map<std::string, int64_t> offsets;
  auto add = [&](const std::string& topic, int64_t time, std::string payload) {
    events.push_back({time, {topic, 0, offsets[topic]++, time, std::move(payload)}});
  };
  const std::vector<std::string> cities = {"Lisbon", "Porto", "Paris"};
  int n = 0;
  for (int burst = 0; burst < 6; ++burst) {
    const int64_t base = kT0 + burst * 35 * kMinute;
    for (int u = 1; u <= 4; ++u) {
      if ((burst + u) % 3 == 0) continue;  // some users skip bursts (gaps > 1h for u3)
      for (int i = 0; i < 3; ++i) {
        const int64_t t = base + u * 1000 + i * 3 * kMinute;
        add("raw.search", t,
            SearchJson("u" + std::to_string(u), t, cities[(u + i + burst) % 3],
                       "s" + std::to_string(n++)));
      }
    }
    if (burst == 2 || burst == 4) {
      const std::string user = burst == 2 ? "u2" : "u4";
      add("raw.booking", base + 20 * kMinute,
          nlohmann::json{{"event_id", "b" + std::to_string(burst)},
                         {"user_id", user},
                         {"event_time", base + 20 * kMinute},
                         {"listing", "l-7"}}
              .dump());
    }
  }
  add("raw.search", kT0 + 5 * kMinute,
      nlohmann::json{{"event_id", "x1"}, {"user_id", "u9"}, {"event_time", kT0 + 5 * kMinute}}
          .dump());                                   // no city: filtered
  add("raw.search", kT0 + 6 * kMinute, "{not json");  // invalid
  // Kafka order: offsets follow time within each topic.
  std::stable_sort(events.begin(), events.end(),
                   [](const Event& a, const Event& b) { return a.time < b.time; });
  offsets.clear();
  for (Event& e : events) e.record.offset = offsets[e.record.topic]++;
  return events;
}

// An output record as the online worker sent it.
struct Emitted {
  int64_t time;  // clock when sent
  std::string topic;
  int32_t partition;
  std::string key;
  std::string value;
};

// The online simple-signal worker over the events of its source topic.
inline std::vector<Emitted> RunOnlineSignal(const UserSignal& signal,
                                            const std::vector<Event>& events) {
  testing::FakeSourceReader source;
  testing::FakeRecordSink sink;
  testing::FakeClock clock;
  for (const auto& t : signal.SourceTopics()) source.partition_counts[t] = 1;
  sink.partition_counts[signal.spec.output_topic] = kPartitions;
  sink.partition_counts[signal.spec.dead_letter_topic] = 1;
  MetricsRegistry registry;
  WorkerMetrics metrics(&registry, "UserSignal", signal.metadata.name);
  SignalWorker worker(signal, std::move(SignalTransform::Create(signal)).value(), &source, &sink,
                      &metrics, &clock, SignalWorkerOptions{});
  EXPECT_TRUE(worker.Start().ok());
  std::vector<Emitted> out;
  for (const Event& e : events) {
    bool reads = false;
    for (const auto& t : signal.SourceTopics()) reads = reads || t == e.record.topic;
    if (!reads) continue;
    clock.now_ms = e.time;
    source.Add(e.record.topic, e.record.partition, e.record.offset, e.record.payload, e.time);
    const size_t before = sink.sent.size();
    EXPECT_TRUE(worker.RunOnce().ok());
    for (size_t i = before; i < sink.sent.size(); ++i) {
      const auto& s = sink.sent[i];
      if (s.topic == signal.spec.output_topic) {
        out.push_back({e.time, s.topic, s.partition, s.key, s.value});
      }
    }
  }
  EXPECT_TRUE(worker.Finish().ok());
  return out;
}

// The online stateful worker of `resource` over `inputs` (its source
// records with the time they arrive, time-ordered), the clock stepped to
// every timer in between and finally to `end`. Returns its output records.
inline std::vector<Emitted> RunOnlineStateful(const std::vector<LoadedResource>& resources,
                                              const LoadedResource& resource,
                                              const std::vector<Emitted>& inputs, int64_t end) {
  TempDir dir;
  auto store = StateStore::Open((dir.path() / "state").string());
  EXPECT_TRUE(store.ok());
  testing::FakeClock clock;
  clock.now_ms = inputs.empty() ? end : inputs.front().time;
  StatefulJobOptions job_options;
  for (const auto& r : resources) {
    if (r.user_signal) job_options.signal_topics[r.name] = r.user_signal->spec.output_topic;
  }
  job_options.clock = &clock;
  job_options.source_partitions = kPartitions;
  auto plan = MakeStatefulJob(resource, job_options);
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  testing::FakeSourceReader source;
  testing::FakeRecordSink sink;
  for (const auto& t : plan->job.source_topics) source.partition_counts[t] = kPartitions;
  sink.partition_counts[plan->job.output_topic] = kPartitions;
  sink.partition_counts[plan->job.changelog_topic] = kPartitions;
  StatefulWorkerOptions options;
  for (int32_t p = 0; p < kPartitions; ++p) options.partitions.push_back(p);
  StatefulWorker worker(plan->job, plan->processor.get(), &source, &sink, store->get(), nullptr,
                        &clock, options);
  EXPECT_TRUE(worker.Start().ok());
  std::vector<Emitted> out;
  auto run = [&] {
    const size_t before = sink.sent.size();
    EXPECT_TRUE(worker.RunOnce().ok());
    for (size_t i = before; i < sink.sent.size(); ++i) {
      const auto& s = sink.sent[i];
      if (s.topic == plan->job.output_topic) {
        out.push_back({clock.now_ms, s.topic, s.partition, s.key, s.value});
      }
    }
  };
  // A live wall clock passes every timer: fire each at its own time.
  auto step_timers_to = [&](int64_t t) {
    while (true) {
      int64_t next = INT64_MAX;
      for (int32_t p = 0; p < kPartitions; ++p) {
        auto due = DueTimers(**store, p, INT64_MAX, 1);
        if (due.ok() && !due->empty()) next = std::min(next, due->front().first);
      }
      if (next > t) break;
      clock.now_ms = std::max(clock.now_ms, next);
      run();
    }
  };
  std::map<std::pair<std::string, int32_t>, int64_t> offsets;
  for (const Emitted& in : inputs) {
    bool reads = false;
    for (const auto& t : plan->job.source_topics) reads = reads || t == in.topic;
    if (!reads) continue;
    step_timers_to(in.time);
    clock.now_ms = std::max(clock.now_ms, in.time);
    source.Add(in.topic, in.partition, offsets[{in.topic, in.partition}]++, in.value, in.time);
    run();
  }
  step_timers_to(end);
  clock.now_ms = std::max(clock.now_ms, end);
  run();
  EXPECT_TRUE(worker.Finish().ok());
  return out;
}

// What a store keeping the newest version per identity holds after `emitted`.
inline BatchRows Materialize(RowKind kind, const std::vector<Emitted>& emitted) {
  BatchRows rows;
  for (const auto& e : emitted) EXPECT_TRUE(rows.Add(kind, e.value).ok()) << e.value;
  return rows;
}

inline std::vector<BatchInputRecord> Records(const std::vector<Event>& events) {
  std::vector<BatchInputRecord> out;
  for (const auto& e : events) out.push_back(e.record);
  return out;
}

// Writes kcat -J envelopes of `events` to `path` (gzip when `gzip`).
inline void WriteKcatFile(const std::filesystem::path& path, const std::vector<Event>& events,
                          bool gzip) {
  std::string text;
  for (const auto& e : events) {
    text += nlohmann::json{{"topic", e.record.topic},
                           {"partition", e.record.partition},
                           {"offset", e.record.offset},
                           {"tstype", "create"},
                           {"ts", e.record.timestamp_ms},
                           {"broker", 1},
                           {"key", nullptr},
                           {"payload", e.record.payload}}
                .dump() +
            "\n";
  }
  gzFile f = gzopen(path.c_str(), gzip ? "wb" : "wbT");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, text.data(), static_cast<unsigned>(text.size())),
            static_cast<int>(text.size()));
  gzclose(f);
}

}  // namespace usp::batch_testing
