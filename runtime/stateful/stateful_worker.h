#pragma once
// The loop of a stateful job (UserSegment, SessionJob, left-join UserSignal):
// source records -> a KeyedProcessor with the key's state -> output records,
// new state and timers. Same assignment protocol and at-least-once rule as
// the simple-signal worker (runtime/worker/signal_worker.h); what it adds:
//
//  - State per key in a StateStore, partitioned like the source. Every state
//    and timer write also goes to the job's changelog topic (same partition,
//    key = state key), and a source offset is committed only once its
//    outputs AND changelog records are acknowledged.
//  - Outputs before changelog: a record's (or a timer's) changelog records
//    are sent only once all its outputs are acknowledged, in processing
//    order. So a state in the changelog always has its outputs delivered.
//  - The changelog goes out in waves: one wave in flight at a time, holding
//    each key's last write of the tickets it releases, the next wave sent
//    only once the previous one is acknowledged. A producer's retry (after
//    a broker error) can land a batch after a later one, librdkafka says so
//    and KafkaClientTest.ARetriedRecordCanLandAfterALaterOne shows it; with
//    one record per key in flight no older write can land after a newer
//    one, so a key's last changelog record is always its state.
//  - Exactly-once state effects under replay: the state of a key remembers
//    the last source offset applied per topic; a replayed record (after a
//    failover the new owner resumes from the committed offset, which may be
//    behind the changelog) is skipped for the state and its outputs are not
//    re-sent — they were delivered, by the rule above.
//  - The local store of an owned partition runs ahead of the changelog. An
//    owner marker in the store says so; a worker that starts and finds one
//    (it was killed while owning the partition) drops that partition and
//    restores it from the changelog. Finish() and a clean hand-over clear it.
//  - Warm standby: while it does not own a partition the worker follows that
//    partition's changelog into its store (ChangelogFollower); taking a
//    partition over first catches up the few records it is behind.
//  - Timers fire at their exact time: the loop never sleeps past the
//    earliest due timer of an owned partition (checked every iteration).
//
// Thread-compatible like SignalWorker: Start/RunOnce/Finish on the loop
// thread; Snapshot/SubmitAssignment from any thread.

#include <atomic>
#include <cstdint>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "runtime/state/changelog_reader.h"
#include "runtime/stateful/state_cache.h"
#include "runtime/state/state_store.h"
#include "runtime/worker/offset_tracker.h"
#include "runtime/worker/dead_letter.h"
#include "runtime/worker/signal_worker.h"
#include "runtime/worker/worker_io.h"
#include "runtime/worker/worker_metrics.h"

namespace usp {

struct ProcessorOutput {
  std::string key;  // the output record's key (a user id): partition = murmur2(key)
  std::string value;
  int64_t timestamp_ms = 0;
  // Empty: the job's output topic. Otherwise another topic (a dead-letter
  // topic), written to any partition.
  std::string topic = {};
};

// Where a source record comes from (a join must know its side, and the
// default event id is "<topic>-<partition>-<offset>").
struct SourceRecordMeta {
  std::string_view topic;
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t timestamp_ms = -1;  // Kafka message timestamp, -1 if none
};

// What processing one record or one timer does.
struct ProcessorEffects {
  bool state_changed = false;
  std::optional<std::string> state;  // when state_changed: the new state; nullopt deletes
  std::vector<ProcessorOutput> outputs;
  std::vector<int64_t> timers_to_set;     // OnTimer(key, at) will be called at these times
  std::vector<int64_t> timers_to_cancel;  // timers set earlier that must not fire
  void Clear();
};

// The job's logic, pure with respect to I/O: the worker stores, logs and
// sends. Implementations: segments (core/segment), sessions (core/session).
class KeyedProcessor {
 public:
  virtual ~KeyedProcessor() = default;
  // The key (user id) of a source record; InvalidArgument for a bad record
  // (counted and skipped).
  virtual Result<std::string> KeyOf(std::string_view record) = 0;
  virtual Status Process(std::string_view key, std::string_view record,
                         const std::optional<std::string>& state, ProcessorEffects* out) = 0;
  virtual Status OnTimer(std::string_view key, int64_t at_ms,
                         const std::optional<std::string>& state, ProcessorEffects* out) = 0;
  // What the worker calls: the two above with the record's origin. The
  // defaults ignore it; override when the topic matters (left_join).
  virtual Result<std::string> KeyOfRecord(const SourceRecordMeta& meta, std::string_view record) {
    return KeyOf(record);
  }
  virtual Status ProcessRecord(const SourceRecordMeta& meta, std::string_view key,
                               std::string_view record, const std::optional<std::string>& state,
                               ProcessorEffects* out) {
    return Process(key, record, state, out);
  }
  // The worker stopped or started owning these source partitions. A
  // processor that caches decoded state (keyed by the exact state bytes it
  // last produced) drops what it holds for them: another owner may have
  // written them since.
  virtual void ForgetPartitions(const std::vector<int32_t>& partitions) {}
  // Whether an owned source partition has a backlog: `behind` is true while
  // some source topic of the partition has records not yet consumed and
  // acknowledged, or its end is not known yet. The worker reports every
  // owned partition once per loop iteration, before its timers and
  // records. A processor that treats a stream without records for a while
  // as quiet (a wall-clock idle rule) must not do so while it is behind: a
  // backlog, or the first moments of a take-over, is not a quiet stream.
  virtual void SetSourceBehind(int32_t partition, bool behind) {}
};

struct StatefulJob {
  std::string kind;  // "UserSegment", "SessionJob"
  std::string name;
  std::vector<std::string> source_topics;  // same partition count each (keyed by user)
  std::string output_topic;
  std::string changelog_topic;  // ChangelogTopic(kind, name); as many partitions as the sources
  // Where an output too large to send goes (see max_record_bytes); empty:
  // "usp.dlq.<name>", the default deadLetterTopic.
  std::string dead_letter_topic = {};
};

struct StatefulWorkerOptions {
  std::vector<int32_t> partitions;  // initially owned; empty = standby
  int max_batch = 1000;
  int poll_timeout_ms = 100;
  int commit_interval_ms = 200;
  int flush_timeout_ms = 30000;
  int catch_up_timeout_ms = 30000;
  // An output record (key + value) over max_record_bytes would be refused by
  // the producer and stop the worker on every restart: it is replaced by a
  // dead letter (runtime/worker/dead_letter.h, reason "output_too_large",
  // payload cut to dead_letter_payload_prefix bytes) on the job's dead-letter
  // topic, and its source offset is committed past as usual.
  size_t max_record_bytes = kDefaultMaxRecordBytes;
  size_t dead_letter_payload_prefix = kDefaultDeadLetterPayloadPrefix;
  // Optional (null: not counted): usp_events_failed_total{reason},
  // usp_events_dead_lettered_total and usp_kafka_errors_total{op="commit"}.
  WorkerMetrics* metrics = nullptr;
  // Owned partitions' state values (and absences) as last written or read
  // are kept in memory up to about this many bytes, so a key's next record
  // or timer does not read RocksDB; the store holds the same values. A
  // partition's entries are dropped when it is gained or lost, all of them
  // when the bound is passed. 0: no cache.
  size_t state_cache_bytes = 64 << 20;
  // Timers of an owned partition are read from the store this far ahead of
  // the clock (on takeover, then as the clock moves): a segment's expiry
  // timers, days ahead, are not read at all on a takeover.
  int64_t timer_horizon_ms = 60'000;
};

struct StatefulSnapshot {
  bool started = false;
  int64_t epoch = 0;
  std::vector<int32_t> partitions;
  int64_t lag = 0;            // source records behind, owned partitions
  int64_t replica_lag = -1;   // changelog records behind, followed partitions (-1 unknown)
  int64_t processed = 0;      // source records applied to state
  int64_t replayed = 0;       // source records skipped: already in the state
  int64_t invalid = 0;        // source records without a key
  int64_t timers_fired = 0;
  int64_t dead_lettered = 0;  // outputs replaced by a dead letter (output_too_large)
  int64_t commit_errors = 0;  // offset commits refused or lost (made again)
  int64_t assigned_at_ms = 0;
  int64_t first_output_ms = 0;
  // Per owned source partition, the next offset committed, as acknowledged by
  // the broker (ShownCommitted in runtime/worker/worker_io.h).
  std::vector<TopicPartitionOffset> committed;
};

class StatefulWorker : public AssignableWorker {
 public:
  // Every pointer must outlive the worker. `follower` may be null (no standby
  // replication: a takeover then reads the changelog from the store's position
  // only if a follower exists, so pass one in production).
  StatefulWorker(StatefulJob job, KeyedProcessor* processor, SourceReader* source,
                 RecordSink* sink, StateStore* store, ChangelogFollower* follower, Clock* clock,
                 StatefulWorkerOptions options);
  StatefulWorker(const StatefulWorker&) = delete;
  StatefulWorker& operator=(const StatefulWorker&) = delete;

  // Partition counts, the initial assignment (catching up its state first)
  // and changelog following of the rest.
  Status Start();
  Status RunOnce();
  Status Finish();

  bool ready() const override { return ready_.load(std::memory_order_acquire); }
  int64_t last_heartbeat_ms() const override {
    return heartbeat_ms_.load(std::memory_order_relaxed);
  }
  std::future<AssignmentOutcome> SubmitAssignment(int64_t epoch,
                                                  std::vector<int32_t> partitions) override;
  AssignmentOutcome ApplyAssignment(int64_t epoch, std::vector<int32_t> partitions);
  // The control protocol's view (/status).
  WorkerSnapshot Snapshot() const override;
  // Everything, including the stateful counters.
  StatefulSnapshot Stats() const;

 private:
  struct Slot {
    std::string topic;
    int32_t partition;
    PartitionOffsetTracker tracker;
    int64_t start_committed = -1;  // the group's committed offset when assigned
  };
  struct Pending {
    int64_t epoch;
    std::vector<int32_t> partitions;
    std::promise<AssignmentOutcome> done;
  };

  Status Assign(const std::vector<int32_t>& partitions);
  Status DrainAndCommit();
  Status ProcessMessage(size_t slot, const ConsumedMessage& m);
  Status FireDueTimers(int64_t now_ms);
  // Each slot's lag (-1: not known yet) into lags_, once per iteration, and
  // tells the processor which owned partitions have a backlog.
  void ObserveSources();
  // Stores `effects` for `key` in `partition` and sends its outputs; its
  // changelog records are deferred until those are acknowledged
  // (ReleaseChangelog). Every record carries `ticket`; *pending is false
  // when there was nothing to send.
  Status Commit(int32_t partition, const std::string& key, const std::string& envelope_state,
                bool delete_state, const ProcessorEffects& effects, uint64_t ticket,
                bool* pending);
  // Sends a dead letter (output_too_large) in place of output `o`.
  Status SendOversized(int32_t partition, const ProcessorOutput& o, uint64_t ticket);
  // Unless a wave is in flight: sends the deferred changelog records of the
  // tickets, in ticket order, whose outputs are all acknowledged, as one
  // wave (each key's last write only).
  Status ReleaseChangelog();
  // The changelog wave was acknowledged: its tickets are done.
  void WaveDone();
  // Flushes until every output and changelog record is acknowledged.
  Status Drain();
  // The ticket's records are all acknowledged: its source offset may be committed.
  void TicketDone(uint64_t ticket);
  Status Send(std::string_view topic, int32_t partition, std::string_view key,
              std::string_view value, int64_t timestamp_ms, uint64_t opaque);
  void OnDelivery(const DeliveryReport& report);
  Status CommitDue(int64_t now_ms, bool sync);
  void CountCommitError();
  // The snapshot /status shows (after ObserveSources).
  void Publish();
  int64_t NextTimerMs();
  // Owner writes are staged and applied to the store once per poll batch
  // (one RocksDB write per partition instead of one per record); GetState
  // reads a key's staged value first. FlushStaged runs before any changelog
  // record of the batch is released and before a drain, so the store is
  // never behind the changelog (after an unclean stop the owner marker makes
  // the partition restore from the changelog anyway).
  void Stage(int32_t partition, const std::vector<StateWrite>& writes);
  Result<std::optional<std::string>> GetState(int32_t partition, std::string_view key);
  Status FlushStaged();
  // Reads the timers of a newly owned partition due up to now +
  // timer_horizon_ms from the store into timers_.
  Status LoadTimers(int32_t partition, int64_t now_ms);
  // Reads the next timers of every owned partition once the clock is half a
  // horizon from the end of what was read.
  Status ExtendTimers(int64_t now_ms);

  StatefulJob job_;
  KeyedProcessor* processor_;
  SourceReader* source_;
  RecordSink* sink_;
  StateStore* store_;
  ChangelogFollower* follower_;
  Clock* clock_;
  StatefulWorkerOptions options_;

  int32_t partitions_count_ = 0;
  int32_t output_partitions_ = 0;
  int64_t epoch_ = 0;
  std::vector<int32_t> owned_;
  std::vector<Slot> slots_;
  struct Outstanding {
    int outputs = 0;                // output records not yet acknowledged
    bool changelog_pending = false;  // changelog records deferred or in the wave
  };
  struct DeferredChangelog {
    uint64_t ticket;
    int32_t partition;
    std::vector<StateWrite> writes;
  };
  std::map<uint64_t, Outstanding> outstanding_;  // ticket -> records not yet acknowledged
  std::deque<DeferredChangelog> deferred_;       // ticket order
  struct ChangelogWave {
    uint64_t opaque = 0;  // of its records; 0: no wave in flight
    size_t unacknowledged = 0;
    std::vector<uint64_t> tickets;
  };
  ChangelogWave wave_;
  uint64_t next_ticket_ = 1;
  std::map<uint64_t, std::pair<size_t, int64_t>> tickets_;  // opaque -> (slot, offset)
  int64_t last_commit_ms_ = 0;
  bool recommit_all_ = false;  // an async commit was lost: commit every partition next
  Status fatal_;
  std::vector<ConsumedMessage> batch_;
  // The timers of each owned partition, (at, key), mirrored from the store
  // up to timers_read_until_[partition]: read when the partition is taken
  // over (after its changelog caught up) and as the clock moves on, kept in
  // step by Commit, the only writer of an owned partition's timers (which
  // adds its new timers here whatever their time). Saves a RocksDB scan per
  // partition per iteration.
  std::map<int32_t, std::set<std::pair<int64_t, std::string>>> timers_;
  std::map<int32_t, int64_t> timers_read_until_;
  std::string envelope_buffer_;  // reused by ProcessMessage
  std::vector<int64_t> lags_;    // per slot, by ObserveSources
  std::map<int32_t, std::vector<StateWrite>> staged_;  // partition -> writes not yet applied
  // (partition, state key) -> its write's index in staged_[partition]
  std::map<std::pair<int32_t, std::string>, size_t> staged_state_;
  StateCache state_cache_;  // flushed (or read) state values of owned partitions
  StatefulSnapshot stats_;

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Pending>> pending_;  // GUARDED_BY(mutex_)
  StatefulSnapshot snapshot_;                      // GUARDED_BY(mutex_)
  std::atomic<bool> ready_{false};
  std::atomic<int64_t> heartbeat_ms_{0};
};

// The state envelope: the processor's state plus the last source offset
// applied per topic (replay detection). Exposed for tests.
//
// Stored format (the value of a state key in the store and the changelog):
// format 2, binary, written since 2026-12: 0x02, the offsets (varint count;
// per topic varint length, name, 8-byte little-endian offset), then 0x00 (no
// state) or 0x01 followed by the processor's state bytes as they are (no
// escaping). Format 1 was a JSON object {"o":{topic:offset},"s":"<state>"};
// DecodeStateEnvelope reads both (the first byte tells them apart: '{'), so
// a store or changelog written by an older worker restores unchanged and its
// keys move to format 2 as they are next written. An older worker cannot
// read format 2 (roll workers forward only).
struct StateEnvelope {
  std::map<std::string, int64_t> offsets;
  std::optional<std::string> state;
};
std::string EncodeStateEnvelope(const StateEnvelope& e);
// The same into `out` (cleared first; its capacity is reused).
void EncodeStateEnvelopeTo(const StateEnvelope& e, std::string* out);
// Format 1 (JSON), for tests of old-state restore.
std::string EncodeJsonStateEnvelope(const StateEnvelope& e);
Result<StateEnvelope> DecodeStateEnvelope(std::string_view bytes);

}  // namespace usp
