#pragma once
// SignalStore: the query service's materialized view of the signal output
// topics, on RocksDB.
//
// Writes are append-only. A row's identity is (signal, user, event time,
// event id); its version is the processing timestamp. Reads return the
// newest version of each identity, so replaying a record is a no-op, a
// newer version (a backfill correction, a late left_join match) wins, and an
// older version written later loses.
//
// The consumed Kafka offsets and the per-signal freshness watermarks are
// written in the same WriteBatch as the rows, so after a crash the store
// resumes exactly where its rows end (rows are never ahead of or behind the
// offsets).
//
// Freshness watermark of a signal: the maximum event_time among all the
// records of that signal this store has materialized (ms since the epoch).
// It says how far event time has progressed in the view, not that every
// earlier event has arrived (events can arrive out of order).
//
// Thread safety: Query(), Freshness(), ReadOffsets() may be called from any
// number of threads concurrently with one writer calling Write().

#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/signal_record.h"
#include "core/status.h"

namespace usp {

// The next offset to consume from one topic partition.
struct PartitionOffset {
  std::string topic;
  int32_t partition = 0;
  int64_t next_offset = 0;
  bool operator==(const PartitionOffset&) const = default;
};

struct SignalQuery {
  std::string user_id;
  std::set<std::string, std::less<>> types;             // signal names; empty = every signal
  int64_t start = std::numeric_limits<int64_t>::min();  // event time, inclusive
  int64_t end = std::numeric_limits<int64_t>::max();    // event time, exclusive
  int32_t limit = 100;  // at most this many records, newest event time first
};

struct SignalStoreOptions {
  // Partition count of the output topics. Rows are keyed by
  // murmur2(user_id) % partitions, so it is fixed for the life of a store:
  // it is recorded on first open, and opening with a different count fails.
  // 0 = take the recorded count (fails on a new store).
  int32_t partitions = 0;
  // Block cache shared by reads, in bytes.
  size_t block_cache_bytes = 64 << 20;
};

struct SignalStoreStats {
  uint64_t sst_bytes = 0;       // bytes of table files holding rows
  uint64_t estimated_rows = 0;  // RocksDB's estimate (all versions)
  std::string compression;      // "ZSTD", "LZ4", ... as configured
};

class SignalStore {
 public:
  // Opens (creating if missing) the store in `dir`.
  // Errors: InvalidArgument for a partition count mismatch, IoError otherwise.
  static Result<std::unique_ptr<SignalStore>> Open(const std::filesystem::path& dir,
                                                   const SignalStoreOptions& options);
  virtual ~SignalStore() = default;

  // Partition count the rows are keyed by.
  virtual int32_t partitions() const = 0;

  // Atomically appends `records` and records `offsets` (each the next offset
  // to consume) and the advanced freshness watermarks.
  virtual Status Write(const std::vector<SignalRecord>& records,
                       const std::vector<PartitionOffset>& offsets) = 0;

  // The newest version of each matching identity, newest event time first.
  // A user with no rows gets an empty list.
  virtual Result<std::vector<SignalRecord>> Query(const SignalQuery& query) const = 0;

  // Every offset ever written, sorted by (topic, partition).
  virtual Result<std::vector<PartitionOffset>> ReadOffsets() const = 0;

  // signal -> freshness watermark (ms); signals without rows are absent.
  virtual std::map<std::string, int64_t> Freshness() const = 0;

  // Flushes memtables to table files (for tests and the size report).
  virtual Status Flush() = 0;
  // Compacts every row range (for tests and the size report).
  virtual Status Compact() = 0;
  virtual Result<SignalStoreStats> Stats() const = 0;
};

}  // namespace usp
