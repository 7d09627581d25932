#pragma once
// Lookup tables for UserSignal `spec.lookups` (enrichment, the "materializer"
// of the Pinterest seed): one table per lookup, fed by a compacted Kafka
// topic. A record's key is the table key, its value the row (JSON); a null
// (empty) value deletes the row; a value that is not JSON is skipped and
// counted. The table lives in its own RocksDB database (a cache of the
// topic: wiped when opened) and a background thread reads every partition
// of the topic from the beginning and keeps it current.
//
// loaded() turns true once the initial load reached the end offsets that
// Start() captured, partition by partition; a worker is not ready (warm)
// before its tables are loaded.
//
// Thread-safe: Get/loaded/rows/lag from any thread while the loader writes.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/signal_transform.h"
#include "core/status.h"
#include "core/user_signal.h"
#include "runtime/kafka/kafka_client.h"

namespace prometheus {
class Registry;
}

namespace rocksdb {
class DB;
}

namespace usp {

struct LookupTableOptions {
  std::string name;        // the lookup's name (logs, metrics)
  std::string topic;       // the compacted topic
  std::string bootstrap;   // Kafka bootstrap servers
  KafkaProperties properties;
  std::string db_path;     // the RocksDB directory (created; its content is discarded)
  int poll_timeout_ms = 100;
  int metadata_timeout_ms = 10000;
  // Called from the loader thread after each applied batch and when the
  // initial load completes: (rows, lag). rows is RocksDB's estimate.
  std::function<void(int64_t rows, int64_t lag)> on_progress;
};

class LookupTable {
 public:
  // Opens the database (wiping what was there) and creates the consumer.
  static Result<std::unique_ptr<LookupTable>> Open(LookupTableOptions options);
  ~LookupTable();  // stops the loader
  LookupTable(const LookupTable&) = delete;
  LookupTable& operator=(const LookupTable&) = delete;

  // Reads the topic's partitions and their end offsets (the initial load's
  // target), assigns every partition from the beginning and starts the
  // loader thread. Unavailable when the metadata cannot be read (retry).
  Status Start();
  // Stops the loader thread (idempotent).
  void Stop();

  // The row's JSON text; false when there is none.
  bool Get(std::string_view key, std::string* value) const;

  bool loaded() const { return loaded_.load(std::memory_order_acquire); }
  // Waits up to `timeout_ms` for loaded().
  bool WaitLoaded(int timeout_ms) const;
  int64_t rows() const;
  // Records not yet applied over all partitions (-1 while unknown).
  int64_t lag() const { return lag_.load(std::memory_order_relaxed); }
  // Records skipped because their value is not JSON.
  int64_t invalid() const { return invalid_.load(std::memory_order_relaxed); }
  // The first error of the loader thread (it keeps retrying), or Ok.
  Status loader_status() const;

  const LookupTableOptions& options() const { return options_; }

 private:
  LookupTable(LookupTableOptions options, std::unique_ptr<rocksdb::DB> db,
              std::unique_ptr<KafkaConsumer> consumer);
  void Loop();
  Status PollOnce();
  void UpdateLoaded();

  LookupTableOptions options_;
  std::unique_ptr<rocksdb::DB> db_;
  std::unique_ptr<KafkaConsumer> consumer_;
  std::vector<int64_t> end_at_start_;  // per partition: the initial load's target
  std::vector<int64_t> next_;          // per partition: next offset to apply (loader thread)
  std::vector<ConsumedMessage> batch_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> loaded_{false};
  std::atomic<int64_t> lag_{-1};
  std::atomic<int64_t> invalid_{0};
  mutable std::mutex mutex_;
  Status loader_status_;  // GUARDED_BY(mutex_)
};

// The tables of one signal's spec.lookups, in spec order, as the
// transform's LookupSource.
class LookupTables : public LookupSource {
 public:
  explicit LookupTables(std::vector<std::unique_ptr<LookupTable>> tables)
      : tables_(std::move(tables)) {}
  bool Lookup(size_t index, std::string_view key, std::string* value_json) override {
    return index < tables_.size() && tables_[index]->Get(key, value_json);
  }
  bool loaded() const {
    for (const auto& t : tables_) {
      if (!t->loaded()) return false;
    }
    return true;
  }
  // Starts every table not started yet; the first error (Unavailable: retry).
  Status Start() {
    for (const auto& t : tables_) USP_RETURN_IF_ERROR(t->Start());
    return Status::Ok();
  }
  const std::vector<std::unique_ptr<LookupTable>>& tables() const { return tables_; }

 private:
  std::vector<std::unique_ptr<LookupTable>> tables_;
};

// Opens (does not start) the tables of `signal`'s spec.lookups, each in
// `dir`/<lookup name>, reporting the gauges usp_lookup_rows and
// usp_lookup_lag {kind="UserSignal", job, lookup} into `registry` (may be
// null).
Result<std::unique_ptr<LookupTables>> OpenLookupTables(const UserSignal& signal,
                                                       const std::string& bootstrap,
                                                       const KafkaProperties& properties,
                                                       const std::string& dir,
                                                       prometheus::Registry* registry);

}  // namespace usp
