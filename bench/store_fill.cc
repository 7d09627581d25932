// usp-bench-fill: fills a query store directly with the rows `usp-runtime
// serve` would have materialized, for the scaling curves (bench/curves):
// query latency and the service's memory at 1e5 ... 1e7 stored signals,
// without pushing them through the mock broker (whose log is bounded).
//
//   usp-bench-fill --dir DIR --resource FILE --users U --per-user K
//                  --end-ms MS --step-ms MS --partitions P [--batch 2000]
//
// The rows are those of `usp-bench-kafka load-signals` (R4): users "u0" ...,
// K search events each, one every MS ms ending at --end-ms, each turned into
// its signal record by the resource's SignalTransform. They are written
// oldest first across users, --batch rows per Apply (one WriteBatch, as the
// materializer writes a poll batch; no offsets: serve then reads the topic
// from its start), streamed (memory stays flat), then flushed and compacted.
// P must be the output topic's partition count (serve opens the store with
// it). Progress on stderr; one JSON line on stdout:
//   {"rows","users","per_user","seconds","rows_per_s","sst_bytes","bytes_per_row"}
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "bench/bench_events.h"
#include "core/resource_loader.h"
#include "core/signal_record.h"
#include "core/signal_transform.h"
#include "runtime/store/signal_store.h"

namespace {

int Usage(int code) {
  std::fprintf(stderr,
               "usage: usp-bench-fill --dir DIR --resource FILE --users U --per-user K\n"
               "                      --end-ms MS --step-ms MS --partitions P [--batch 2000]\n"
               "Writes U*K signal records of the resource's UserSignal into a new query store.\n");
  return code;
}

bool ParseInt(const std::string& flag, const std::string& text, int64_t* out) {
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v <= 0) {
    std::fprintf(stderr, "usp-bench-fill: %s: expected a positive integer, got '%s'\n",
                 flag.c_str(), text.c_str());
    return false;
  }
  *out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir, resource;
  int64_t users = 0, per_user = 0, end_ms = 0, step_ms = 0, partitions = 0, batch_rows = 2000;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") return Usage(0);
    if (i + 1 >= argc) {
      std::fprintf(stderr, "usp-bench-fill: %s needs a value\n", a.c_str());
      return Usage(2);
    }
    const std::string v = argv[++i];
    bool ok = true;
    if (a == "--dir") {
      dir = v;
    } else if (a == "--resource") {
      resource = v;
    } else if (a == "--users") {
      ok = ParseInt(a, v, &users);
    } else if (a == "--per-user") {
      ok = ParseInt(a, v, &per_user);
    } else if (a == "--end-ms") {
      ok = ParseInt(a, v, &end_ms);
    } else if (a == "--step-ms") {
      ok = ParseInt(a, v, &step_ms);
    } else if (a == "--partitions") {
      ok = ParseInt(a, v, &partitions);
    } else if (a == "--batch") {
      ok = ParseInt(a, v, &batch_rows);
    } else {
      std::fprintf(stderr, "usp-bench-fill: unknown flag %s\n", a.c_str());
      return Usage(2);
    }
    if (!ok) return 2;
  }
  for (auto [name, missing] : {std::pair{"--dir", dir.empty()}, {"--resource", resource.empty()},
                               {"--users", users == 0}, {"--per-user", per_user == 0},
                               {"--end-ms", end_ms == 0}, {"--step-ms", step_ms == 0},
                               {"--partitions", partitions == 0}}) {
    if (missing) {
      std::fprintf(stderr, "usp-bench-fill: missing %s\n", name);
      return Usage(2);
    }
  }
  if (std::filesystem::exists(dir) && !std::filesystem::is_empty(dir)) {
    std::fprintf(stderr, "usp-bench-fill: --dir %s is not empty\n", dir.c_str());
    return 2;
  }
  auto resources = usp::LoadResourcesFromPath(resource);
  if (!resources.ok() || resources->empty() || !resources->front().user_signal) {
    std::fprintf(stderr, "usp-bench-fill: --resource %s must hold one valid UserSignal\n",
                 resource.c_str());
    return 2;
  }
  const usp::UserSignal& signal = *resources->front().user_signal;
  const std::string source_topic = signal.SourceTopics().front();
  auto transform = usp::SignalTransform::Create(signal);
  if (!transform.ok()) {
    std::fprintf(stderr, "usp-bench-fill: %s\n", transform.status().message().c_str());
    return 2;
  }
  usp::SignalStoreOptions options;
  options.partitions = static_cast<int32_t>(partitions);
  auto store = usp::SignalStore::Open(dir, options);
  if (!store.ok()) {
    std::fprintf(stderr, "usp-bench-fill: %s\n", store.status().ToString().c_str());
    return 1;
  }

  std::mt19937_64 rng(42);
  const int64_t version = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
  const int64_t rows = users * per_user;
  const auto start = std::chrono::steady_clock::now();
  usp::StoreBatch batch;
  batch.signals.reserve(static_cast<size_t>(batch_rows));
  usp::TransformError error;
  uint64_t sequence = 0;
  int64_t next_report = rows / 10;
  auto apply = [&]() -> bool {
    if (batch.signals.empty()) return true;
    if (auto s = (*store)->Apply(batch); !s.ok()) {
      std::fprintf(stderr, "usp-bench-fill: %s\n", s.ToString().c_str());
      return false;
    }
    batch.signals.clear();
    return true;
  };
  for (int64_t k = 0; k < per_user; ++k) {
    const int64_t time_ms = end_ms - (per_user - 1 - k) * step_ms;
    for (int64_t u = 0; u < users; ++u) {
      std::string user = "u";
      user += std::to_string(u);
      const std::string event =
          usp::bench::MakeEvent(usp::bench::EventShape::kSearch, user, time_ms, sequence, rng);
      usp::SourceEvent source{source_topic, 0, static_cast<int64_t>(sequence), event};
      ++sequence;
      usp::SignalRecord& record = batch.signals.emplace_back();
      if ((*transform)->Apply(source, version, &record, &error) !=
          usp::TransformOutcome::kEmitted) {
        std::fprintf(stderr, "usp-bench-fill: transform: %s\n", error.message.c_str());
        return 1;
      }
      if (static_cast<int64_t>(batch.signals.size()) >= batch_rows && !apply()) return 1;
      if (static_cast<int64_t>(sequence) >= next_report) {
        std::fprintf(stderr, "usp-bench-fill: %" PRIu64 " of %" PRId64 " rows\n", sequence, rows);
        next_report += rows / 10;
      }
    }
  }
  if (!apply()) return 1;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (auto s = (*store)->Flush(); !s.ok()) {
    std::fprintf(stderr, "usp-bench-fill: flush: %s\n", s.ToString().c_str());
    return 1;
  }
  if (auto s = (*store)->Compact(); !s.ok()) {
    std::fprintf(stderr, "usp-bench-fill: compact: %s\n", s.ToString().c_str());
    return 1;
  }
  auto stats = (*store)->Stats();
  if (!stats.ok()) return 1;
  std::printf("{\"rows\":%" PRId64 ",\"users\":%" PRId64 ",\"per_user\":%" PRId64
              ",\"seconds\":%.3f,\"rows_per_s\":%.0f,\"sst_bytes\":%" PRIu64
              ",\"bytes_per_row\":%.1f,\"first_event_ms\":%" PRId64 ",\"last_event_ms\":%" PRId64
              "}\n",
              rows, users, per_user, seconds, static_cast<double>(rows) / seconds,
              static_cast<uint64_t>(stats->sst_bytes),
              static_cast<double>(stats->sst_bytes) / static_cast<double>(rows),
              end_ms - (per_user - 1) * step_ms, end_ms);
  return 0;
}
