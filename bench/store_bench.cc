// usp-bench-store: the query store's write path and size, for R3 and R8.
//
//   usp-bench-store --dir DIR [--rows N] [--users U] [--batch B] [--partitions P]
//
// Makes N realistic events (bench_events.h: searches, listing views and
// bookings in turn, U users), turns each into its signal record with the
// same SignalTransform a worker runs (the bench UserSignals of
// json_decode_bench), and writes them into a new SignalStore in DIR with one
// Apply (one RocksDB WriteBatch, offsets included) per B rows — what the
// materializer does per poll batch. Then flushes and compacts and prints one
// JSON line:
//   rows, seconds, rows_per_s        the write path (R3's USP side)
//   key_bytes, value_bytes           average row key / value size (for
//                                    db_bench --key_size / --value_size)
//   raw_event_bytes                  average source event JSON size
//   sst_bytes, bytes_per_row         table files after compaction (R8)
//   r8                               bytes_per_row / raw_event_bytes
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/bench_events.h"
#include "core/murmur2.h"
#include "core/signal_transform.h"
#include "core/user_signal.h"
#include "runtime/store/signal_key.h"
#include "runtime/store/signal_store.h"

namespace {

using usp::bench::EventShape;

usp::UserSignal SignalFor(EventShape shape) {
  nlohmann::json attributes = nlohmann::json::object();
  for (const auto& a : usp::bench::ShapeAttributes(shape)) attributes[a.name] = a.pointer;
  const std::string name = shape == EventShape::kSearch        ? "searches"
                           : shape == EventShape::kListingView ? "listing-views"
                                                               : "bookings";
  nlohmann::json doc = {
      {"apiVersion", "usp.dev/v1alpha1"},
      {"kind", "UserSignal"},
      {"metadata", {{"name", name}}},
      {"spec",
       {{"type", "simple"},
        {"eventSources",
         {{{"kafkaTopic", std::string("events.") + usp::bench::ShapeName(shape)}}}},
        {"eventIdField", "/event_id"},
        {"attributes", attributes}}}};
  usp::FieldErrors errors;
  auto signal = usp::ParseUserSignal(doc, &errors);
  if (!signal) {
    std::fprintf(stderr, "bad bench UserSignal: %s\n", errors.front().ToString().c_str());
    std::exit(2);
  }
  return *signal;
}

int Usage() {
  std::fprintf(stderr,
               "usage: usp-bench-store --dir DIR [--rows N=1000000] [--users U=100000] "
               "[--batch B=2000] [--partitions P=8]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  int64_t rows = 1'000'000;
  int64_t users = 100'000;
  int64_t batch_rows = 2000;
  int32_t partitions = 8;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      Usage();
      return 0;
    }
    if (i + 1 >= argc) return Usage();
    const std::string v = argv[++i];
    if (a == "--dir") {
      dir = v;
    } else if (a == "--rows") {
      rows = std::atoll(v.c_str());
    } else if (a == "--users") {
      users = std::atoll(v.c_str());
    } else if (a == "--batch") {
      batch_rows = std::atoll(v.c_str());
    } else if (a == "--partitions") {
      partitions = std::atoi(v.c_str());
    } else {
      return Usage();
    }
  }
  if (dir.empty() || rows <= 0 || users <= 0 || batch_rows <= 0 || partitions <= 0) return Usage();
  if (std::filesystem::exists(dir) && !std::filesystem::is_empty(dir)) {
    std::fprintf(stderr, "usp-bench-store: %s is not empty\n", dir.c_str());
    return 2;
  }

  // Records first (not timed): the transform is R1's business.
  std::vector<std::unique_ptr<usp::SignalTransform>> transforms;
  for (EventShape s : usp::bench::kAllShapes) {
    transforms.push_back(std::move(usp::SignalTransform::Create(SignalFor(s)).value()));
  }
  std::mt19937_64 rng(42);
  std::vector<usp::SignalRecord> records;
  records.reserve(static_cast<size_t>(rows));
  int64_t raw_bytes = 0;
  int64_t key_bytes = 0;
  int64_t value_bytes = 0;
  const int64_t base = 1'795'000'000'000;
  for (int64_t i = 0; i < rows; ++i) {
    const EventShape shape = usp::bench::kAllShapes[i % 3];
    const std::string user = "user-" + std::to_string(i % users);
    const std::string json = usp::bench::MakeEvent(shape, user, base + i * 10,
                                                   static_cast<uint64_t>(i), rng);
    raw_bytes += static_cast<int64_t>(json.size());
    const std::string topic = std::string("events.") + usp::bench::ShapeName(shape);
    usp::SourceEvent event{topic, 0, i, json};
    usp::SignalRecord record;
    usp::TransformError error;
    if (transforms[i % 3]->Apply(event, base + i * 10 + 50, &record, &error) !=
        usp::TransformOutcome::kEmitted) {
      std::fprintf(stderr, "usp-bench-store: event %lld not emitted: %s\n",
                   static_cast<long long>(i), error.message.c_str());
      return 1;
    }
    const int32_t p = usp::PartitionForKey(record.user_id, partitions);
    key_bytes += static_cast<int64_t>(usp::EncodeRowKey(p, record).size());
    value_bytes += static_cast<int64_t>(usp::EncodeRowValue(record).size());
    records.push_back(std::move(record));
  }

  usp::SignalStoreOptions options;
  options.partitions = partitions;
  auto store = usp::SignalStore::Open(dir, options);
  if (!store.ok()) {
    std::fprintf(stderr, "usp-bench-store: %s\n", store.status().ToString().c_str());
    return 1;
  }
  const auto start = std::chrono::steady_clock::now();
  usp::StoreBatch batch;
  for (int64_t i = 0; i < rows; i += batch_rows) {
    batch.signals.assign(records.begin() + i,
                         records.begin() + std::min<int64_t>(rows, i + batch_rows));
    batch.offsets = {{"usp.signal.bench", static_cast<int32_t>((i / batch_rows) % partitions),
                      i + batch_rows}};
    if (auto s = (*store)->Apply(batch); !s.ok()) {
      std::fprintf(stderr, "usp-bench-store: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (auto s = (*store)->Flush(); !s.ok()) return 1;
  if (auto s = (*store)->Compact(); !s.ok()) return 1;
  auto stats = (*store)->Stats();
  if (!stats.ok()) return 1;
  const double n = static_cast<double>(rows);
  const double per_row = static_cast<double>(stats->sst_bytes) / n;
  const double raw = static_cast<double>(raw_bytes) / n;
  nlohmann::json out = {{"rows", rows},
                        {"seconds", seconds},
                        {"rows_per_s", n / seconds},
                        {"key_bytes", static_cast<double>(key_bytes) / n},
                        {"value_bytes", static_cast<double>(value_bytes) / n},
                        {"raw_event_bytes", raw},
                        {"sst_bytes", stats->sst_bytes},
                        {"bytes_per_row", per_row},
                        {"compression", stats->compression},
                        {"r8", per_row / raw}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
