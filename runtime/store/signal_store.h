#pragma once
// SignalStore: the query service's materialized view of the output topics
// (signals, segments, sessions), on RocksDB.
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
// Segment rows: identity (segment, user, start) — one membership; version =
// the record's version. Session rows: identity (job, user, window_start,
// window_end); version = the record's version (an async_result arrives as a
// newer version of the same window). Newest version wins, as for signals.
// Every version is kept (append-only), so a user's whole segment history is
// there for point-in-time (`at`) answers.
//
// Thread safety: the Query*(), Scan*(), Freshness(), ReadOffsets() may be called from
// any number of threads concurrently with one writer calling Apply()/Write().

#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/segment/segment_record.h"
#include "core/session/session_record.h"
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

struct SegmentQuery {
  std::string user_id;
  std::set<std::string, std::less<>> segments;  // segment names; empty = every segment
  // Memberships that start after `at` (epoch ms) are left out.
  int64_t at = std::numeric_limits<int64_t>::max();
};

struct SessionQuery {
  std::string user_id;
  std::set<std::string, std::less<>> jobs;  // SessionJob names; empty = every job
  int32_t limit = 100;                      // at most this many windows, newest window_end first
};

// One signal row as the store holds it, handed to SignalStore::VisitQuery().
// The views point into the store's buffers and are valid only during the
// visit.
struct SignalRowView {
  std::string_view signal;
  int64_t event_time = 0;
  std::string_view event_id;
  int64_t version = 0;
  std::string_view attributes_json;  // a JSON object
};

// What a full scan returns: the newest version of each identity among rows
// whose name is in `names` (empty = all) and whose time is in [start, end):
// signals by event_time, segments by start, sessions by window_end.
struct StoreScan {
  std::set<std::string, std::less<>> names;  // signal / segment / SessionJob names; empty = all
  int64_t start = std::numeric_limits<int64_t>::min();  // inclusive
  int64_t end = std::numeric_limits<int64_t>::max();    // exclusive
};

// One poll batch of the materializer: rows of every kind and the offsets
// they were consumed up to, written atomically.
struct StoreBatch {
  std::vector<SignalRecord> signals;
  std::vector<SegmentRecord> segments;
  std::vector<SessionRecord> sessions;
  std::vector<PartitionOffset> offsets;
};

// A user's rows of every kind, read from one consistent snapshot.
struct UserProfile {
  std::vector<SignalRecord> signals;
  std::vector<SegmentRecord> segments;
  std::vector<SessionRecord> sessions;
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
  // Opens an existing store read-only, so a running query service (which
  // holds the store's lock) is not disturbed; sees what was written up to the
  // open (flushed or not). NotFound if no store in dir.
  // It is a RocksDB secondary instance: it never writes to `dir` (its own
  // log goes to a temporary directory removed on close), and it keeps every
  // table file open, so the writer's compactions cannot pull files from
  // under a long scan. Apply() on it fails with InvalidArgument; Flush() and
  // Compact() are no-ops.
  static Result<std::unique_ptr<SignalStore>> OpenReadOnly(const std::filesystem::path& dir);

  virtual ~SignalStore() = default;

  // Partition count the rows are keyed by.
  virtual int32_t partitions() const = 0;

  // Atomically appends every row of `batch` and records its offsets (each
  // the next offset to consume) and the advanced freshness watermarks.
  virtual Status Apply(const StoreBatch& batch) = 0;

  // Apply() with signal rows only.
  Status Write(const std::vector<SignalRecord>& records,
               const std::vector<PartitionOffset>& offsets) {
    StoreBatch batch;
    batch.signals = records;
    batch.offsets = offsets;
    return Apply(batch);
  }

  // The newest version of each matching identity, newest event time first.
  // A user with no rows gets an empty list.
  virtual Result<std::vector<SignalRecord>> Query(const SignalQuery& query) const = 0;

  // Query() without copying: calls `visit` for each row Query() would return,
  // in the same order (each row's user is query.user_id). The query
  // service's hot path: it writes the response JSON straight from the views.
  // The default runs Query().
  virtual Status VisitQuery(const SignalQuery& query,
                            const std::function<void(const SignalRowView&)>& visit) const;

  // The freshness watermark of one signal (Freshness()[signal]); nullopt when
  // none of its rows was materialized. The default copies Freshness().
  virtual std::optional<int64_t> FreshnessOf(std::string_view signal) const;

  // The newest version of the user's memberships: for each segment, the
  // membership with the latest start <= query.at (at most one per segment),
  // sorted by segment name. Exactly the record SegmentsAt(..., at) answers
  // from for that segment (core/segment/segment_query.h).
  virtual Result<std::vector<SegmentRecord>> QuerySegments(const SegmentQuery& query) const = 0;

  // The newest version of each matching window, newest window_end first
  // (ties: job name, then newest window_start first).
  virtual Result<std::vector<SessionRecord>> QuerySessions(const SessionQuery& query) const = 0;

  // The three queries on one consistent view. The default runs them one
  // after the other.
  virtual Result<UserProfile> QueryProfile(const SignalQuery& signals, const SegmentQuery& segments,
                                           const SessionQuery& sessions) const;

  // Full scans, for export and backfill comparison. Each visits the newest
  // version of every identity matching `scan` in key order (partition, user,
  // then the per-kind order of signal_key.h) until `visit` returns false, all
  // from one consistent snapshot. Every record's user_id is filled in.
  // Segments: every membership (segment, user, start), not only the latest
  // per segment.
  virtual Status ScanSignals(const StoreScan& scan,
                             const std::function<bool(const SignalRecord&)>& visit) const = 0;
  virtual Status ScanSegments(const StoreScan& scan,
                              const std::function<bool(const SegmentRecord&)>& visit) const = 0;
  virtual Status ScanSessions(const StoreScan& scan,
                              const std::function<bool(const SessionRecord&)>& visit) const = 0;

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
