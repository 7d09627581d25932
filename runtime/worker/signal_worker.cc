#include "runtime/worker/signal_worker.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "core/murmur2.h"
#include "runtime/worker/dead_letter.h"

namespace usp {

namespace {

// A delivery opaque packs the source message it answers for:
// bits 63..48 slot, bit 47 dead letter, bits 46..0 source offset.
constexpr uint64_t kDeadLetterBit = uint64_t{1} << 47;
constexpr uint64_t kOffsetMask = kDeadLetterBit - 1;
constexpr size_t kMaxSlots = 1 << 16;

uint64_t PackOpaque(int slot, int64_t offset, bool dead_letter) {
  return (static_cast<uint64_t>(slot) << 48) | (dead_letter ? kDeadLetterBit : 0) |
         (static_cast<uint64_t>(offset) & kOffsetMask);
}

double SecondsBetween(int64_t from_ms, int64_t to_ms) {
  if (from_ms < 0) return -1;
  return static_cast<double>(std::max<int64_t>(0, to_ms - from_ms)) / 1000.0;
}

}  // namespace

SignalWorker::SignalWorker(UserSignal signal, std::unique_ptr<SignalTransform> transform,
                           SourceReader* source, RecordSink* sink, WorkerMetrics* metrics,
                           Clock* clock, SignalWorkerOptions options)
    : signal_(std::move(signal)),
      transform_(std::move(transform)),
      source_(source),
      sink_(sink),
      metrics_(metrics),
      clock_(clock),
      options_(std::move(options)) {
  sink_->SetDeliveryCallback([this](const DeliveryReport& report) { OnDelivery(report); });
  batch_.reserve(static_cast<size_t>(std::max(options_.max_batch, 1)));
}

AssignmentResult CheckAssignmentEpoch(int64_t current_epoch, const std::vector<int32_t>& current,
                                      int64_t epoch, const std::vector<int32_t>& wanted) {
  if (epoch < current_epoch) return AssignmentResult::kStale;
  if (epoch == current_epoch) {
    return wanted == current ? AssignmentResult::kUnchanged : AssignmentResult::kConflicting;
  }
  return AssignmentResult::kApplied;
}

void SignalWorker::AddStartGate(std::string what, std::function<bool()> done) {
  start_gates_.emplace_back(std::move(what), std::move(done));
}

Status SignalWorker::Start() {
  for (const auto& [what, done] : start_gates_) {
    if (!done()) return Status::Unavailable("waiting for " + what);
  }
  auto out = sink_->PartitionCount(signal_.spec.output_topic);
  if (!out.ok()) return out.status();
  output_partitions_ = *out;
  if (signal_.spec.on_error == OnError::kDeadLetter) {
    auto dlq = sink_->PartitionCount(signal_.spec.dead_letter_topic);
    if (!dlq.ok()) return dlq.status();
  }

  std::vector<std::pair<std::string, int32_t>> counts;
  int32_t max_count = 0;
  for (const std::string& topic : signal_.SourceTopics()) {
    auto count = source_->PartitionCount(topic);
    if (!count.ok()) return count.status();
    counts.emplace_back(topic, *count);
    max_count = std::max(max_count, *count);
  }
  source_counts_ = std::move(counts);
  max_source_partitions_ = max_count;

  std::vector<int32_t> parts = options_.partitions;
  if (parts.empty() && options_.all_partitions) {
    for (int32_t p = 0; p < max_count; ++p) parts.push_back(p);
  }
  USP_RETURN_IF_ERROR(AssignPartitions(parts));
  assigned_at_ms_ = clock_->NowMs();
  spdlog::info("worker ready: {} source partitions (epoch {}), output {} with {} partitions",
               assignment_.size(), epoch_, signal_.spec.output_topic, output_partitions_);
  ready_.store(true, std::memory_order_release);
  metrics_->StandbyWarm(true);
  PublishSnapshot();
  return Status::Ok();
}

Status SignalWorker::AssignPartitions(const std::vector<int32_t>& requested) {
  std::vector<int32_t> parts = requested;
  std::sort(parts.begin(), parts.end());
  parts.erase(std::unique(parts.begin(), parts.end()), parts.end());

  std::vector<TopicPartition> wanted;
  std::vector<TopicSlots> topics;
  for (const auto& [topic, count] : source_counts_) {
    TopicSlots ts{topic, std::vector<int>(static_cast<size_t>(count), -1)};
    for (int32_t p : parts) {
      if (p < 0 || p >= count) {
        spdlog::warn("source topic {} has {} partitions: partition {} skipped", topic, count, p);
        continue;
      }
      ts.slot_by_partition[p] = static_cast<int>(wanted.size());
      wanted.push_back({topic, p});
    }
    topics.push_back(std::move(ts));
  }
  if (wanted.size() >= kMaxSlots) {
    return Status::InvalidArgument("too many source partitions for one worker");
  }

  std::vector<TopicPartitionOffset> starts;
  std::vector<Slot> slots;
  if (!wanted.empty()) {
    auto committed = source_->Committed(wanted);
    if (!committed.ok()) return committed.status();
    for (size_t i = 0; i < wanted.size(); ++i) {
      int64_t offset = (*committed)[i].offset;
      Slot slot{wanted[i].topic, wanted[i].partition, PartitionOffsetTracker(offset), offset};
      slot.tracker.MarkCommitted(offset);
      slots.push_back(std::move(slot));
      // No committed offset: the group default (earliest).
      starts.push_back(
          {wanted[i].topic, wanted[i].partition, offset >= 0 ? offset : kOffsetCommitted});
    }
  }
  USP_RETURN_IF_ERROR(source_->Assign(starts));

  // Removed partitions keep no stale lag series.
  for (const TopicPartition& old : assignment_) {
    if (std::find_if(wanted.begin(), wanted.end(), [&](const TopicPartition& w) {
          return w.topic == old.topic && w.partition == old.partition;
        }) == wanted.end()) {
      metrics_->Lag(old.topic, old.partition, 0);
    }
  }
  slots_ = std::move(slots);
  topics_ = std::move(topics);
  assignment_ = std::move(wanted);
  partitions_ = std::move(parts);
  last_commit_ms_ = clock_->NowMs();
  metrics_->AssignedPartitions(static_cast<int64_t>(assignment_.size()));
  for (const auto& s : starts) {
    spdlog::info("assigned {}[{}] from offset {}", s.topic, s.partition,
                 s.offset >= 0 ? std::to_string(s.offset) : std::string("earliest"));
  }
  return Status::Ok();
}

Status SignalWorker::DrainAndCommit() {
  USP_RETURN_IF_ERROR(sink_->Flush(options_.flush_timeout_ms));
  if (!fatal_.ok()) return fatal_;
  std::vector<TopicPartitionOffset> offsets = CommittableOffsets();
  if (offsets.empty()) return Status::Ok();
  USP_RETURN_IF_ERROR(source_->Commit(offsets, /*sync=*/true));
  for (const auto& o : offsets) {
    slots_[FindSlot(o.topic, o.partition)].tracker.MarkCommitted(o.offset);
  }
  return Status::Ok();
}

AssignmentOutcome SignalWorker::ApplyAssignment(int64_t epoch, std::vector<int32_t> partitions) {
  if (!ready()) return {AssignmentResult::kUnavailable, "worker not started"};
  std::sort(partitions.begin(), partitions.end());
  partitions.erase(std::unique(partitions.begin(), partitions.end()), partitions.end());
  for (int32_t p : partitions) {
    if (p < 0 || p >= max_source_partitions_) {
      return {AssignmentResult::kInvalid,
              "partitions: " + std::to_string(p) + " is out of range (source topics have " +
                  std::to_string(max_source_partitions_) + " partitions)"};
    }
  }
  AssignmentResult result = CheckAssignmentEpoch(epoch_, partitions_, epoch, partitions);
  switch (result) {
    case AssignmentResult::kStale:
      return {result, "epoch " + std::to_string(epoch) + " is older than current " +
                          std::to_string(epoch_)};
    case AssignmentResult::kConflicting:
      return {result, "epoch " + std::to_string(epoch) + " is current with different partitions"};
    case AssignmentResult::kUnchanged:
      return {result, ""};
    default:
      break;
  }
  if (partitions == partitions_) {
    // A newer epoch with the same partitions (the standbys changed): nothing
    // moves, nothing is drained.
    epoch_ = epoch;
    PublishSnapshot();
    return {AssignmentResult::kApplied, ""};
  }
  // Simple and correct: every in-flight output (of kept partitions too) is
  // acknowledged and committed, so all partitions restart from the commit.
  Status s = DrainAndCommit();
  if (s.ok()) s = AssignPartitions(partitions);
  if (!s.ok()) {
    spdlog::error("assignment epoch {} not applied: {}", epoch, s.ToString());
    return {AssignmentResult::kUnavailable, s.ToString()};
  }
  epoch_ = epoch;
  assigned_at_ms_ = clock_->NowMs();
  first_output_ms_ = 0;
  UpdateLag();
  PublishSnapshot();
  spdlog::info("assignment epoch {} applied: {} source partitions", epoch_, assignment_.size());
  return {AssignmentResult::kApplied, ""};
}

std::future<AssignmentOutcome> SignalWorker::SubmitAssignment(int64_t epoch,
                                                              std::vector<int32_t> partitions) {
  auto pending = std::make_unique<PendingAssignment>(
      PendingAssignment{epoch, std::move(partitions), std::promise<AssignmentOutcome>()});
  std::future<AssignmentOutcome> done = pending->done.get_future();
  std::lock_guard<std::mutex> lock(mutex_);
  pending_.push_back(std::move(pending));
  return done;
}

void SignalWorker::ServePendingAssignments() {
  std::vector<std::unique_ptr<PendingAssignment>> pending;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (pending_.empty()) return;
    pending.swap(pending_);
  }
  for (auto& p : pending) p->done.set_value(ApplyAssignment(p->epoch, std::move(p->partitions)));
}

void SignalWorker::PublishSnapshot() {
  WorkerSnapshot snap;
  snap.started = ready();
  snap.epoch = epoch_;
  snap.partitions = partitions_;
  snap.assignment = assignment_;
  for (const Slot& s : slots_)
    snap.committed.push_back({s.topic, s.partition, ShownCommitted(*source_, s)});
  snap.lag = lag_;
  snap.assigned_at_ms = assigned_at_ms_;
  snap.first_output_ms = first_output_ms_;
  std::lock_guard<std::mutex> lock(mutex_);
  snapshot_ = std::move(snap);
}

WorkerSnapshot SignalWorker::Snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return snapshot_;
}

int SignalWorker::FindSlot(std::string_view topic, int32_t partition) const {
  for (const TopicSlots& ts : topics_) {
    if (ts.topic != topic) continue;
    if (partition < 0 || static_cast<size_t>(partition) >= ts.slot_by_partition.size()) return -1;
    return ts.slot_by_partition[partition];
  }
  return -1;
}

namespace {
constexpr int kStandbyPollTimeoutMs = 5;
}  // namespace

Status SignalWorker::RunOnce() {
  int64_t now_ms = clock_->NowMs();
  heartbeat_ms_.store(now_ms, std::memory_order_relaxed);
  ServePendingAssignments();
  sink_->Poll(0);
  if (!fatal_.ok()) return fatal_;

  // A standby has nothing to wait for but an assignment, which is served at
  // the top of the loop: it polls briefly so a failover never waits a full
  // poll timeout.
  const int poll_timeout_ms = partitions_.empty()
                                  ? std::min(options_.poll_timeout_ms, kStandbyPollTimeoutMs)
                                  : options_.poll_timeout_ms;
  USP_RETURN_IF_ERROR(source_->Poll(options_.max_batch, poll_timeout_ms, &batch_));
  if (!batch_.empty()) {
    metrics_->Consumed(static_cast<int64_t>(batch_.size()));
    now_ms = clock_->NowMs();
    for (const ConsumedMessage& m : batch_) {
      int slot = FindSlot(m.topic, m.partition);
      if (slot < 0) {
        spdlog::warn("message from unassigned partition {}[{}] ignored", m.topic, m.partition);
        continue;
      }
      USP_RETURN_IF_ERROR(Process(slot, m, now_ms));
    }
    sink_->Poll(0);
  }
  if (!fatal_.ok()) return fatal_;
  return CommitDue(clock_->NowMs());
}

Status SignalWorker::Process(int slot_index, const ConsumedMessage& m, int64_t now_ms) {
  PartitionOffsetTracker& tracker = slots_[slot_index].tracker;
  // Redelivered after a seek: already in flight or done.
  if (m.offset < tracker.next_offset()) return Status::Ok();

  SourceEvent event{m.topic, m.partition, m.offset, m.payload};
  auto t0 = std::chrono::steady_clock::now();
  TransformOutcome outcome = transform_->Apply(event, now_ms, &record_, &error_);
  metrics_->TransformLatency(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());

  InFlightTimes times{-1, m.timestamp_ms, now_ms};
  switch (outcome) {
    case TransformOutcome::kEmitted: {
      buffer_.clear();
      AppendSignalRecordJson(record_, &buffer_);
      if (RecordTooLarge(record_.user_id, buffer_, options_.max_record_bytes)) {
        const size_t bytes = record_.user_id.size() + buffer_.size();
        // The producer would refuse it: a bad event, not a stopped worker.
        error_.reason = "output_too_large";
        error_.message = "signal record of " + std::to_string(bytes) + " bytes exceeds the " +
                         std::to_string(options_.max_record_bytes) + "-byte record limit";
        break;
      }
      times.event_time_ms = record_.event_time;
      tracker.Begin(m.offset, times);
      int32_t partition = PartitionForKey(record_.user_id, output_partitions_);
      return SendWithRetry(signal_.spec.output_topic, partition, record_.user_id, buffer_,
                           record_.event_time, PackOpaque(slot_index, m.offset, false));
    }
    case TransformOutcome::kFiltered:
      tracker.Begin(m.offset, times);
      tracker.Ack(m.offset);
      return Status::Ok();
    case TransformOutcome::kFailed:
      break;
  }

  metrics_->Failed(error_.reason);
  tracker.Begin(m.offset, times);
  switch (signal_.spec.on_error) {
    case OnError::kSkip:
      spdlog::debug("skipped bad event {}[{}]@{}: {}: {}", m.topic, m.partition, m.offset,
                    error_.reason, error_.message);
      tracker.Ack(m.offset);
      return Status::Ok();
    case OnError::kDeadLetter: {
      BuildDeadLetter(m, now_ms);
      key_.clear();
      key_.append(m.topic).append("-").append(std::to_string(m.partition)).append("-");
      key_.append(std::to_string(m.offset));
      return SendWithRetry(signal_.spec.dead_letter_topic, kAnyPartition, key_, buffer_, now_ms,
                           PackOpaque(slot_index, m.offset, true));
    }
    case OnError::kFail:
      break;
  }
  tracker.Fail(m.offset);
  spdlog::error("bad event at {}[{}]@{} (onError: fail): {}: {}", m.topic, m.partition, m.offset,
                error_.reason, error_.message);
  return Status::InvalidArgument("bad event at " + std::string(m.topic) + "[" +
                                 std::to_string(m.partition) + "]@" + std::to_string(m.offset) +
                                 ": " + error_.reason + ": " + error_.message);
}

void SignalWorker::BuildDeadLetter(const ConsumedMessage& m, int64_t now_ms) {
  usp::BuildDeadLetter({m.topic, m.partition, m.offset, signal_.metadata.name, error_.reason,
                        error_.message},
                       m.payload, now_ms, options_.max_record_bytes,
                       options_.dead_letter_payload_prefix, &buffer_);
}

Status SignalWorker::SendWithRetry(std::string_view topic, int32_t partition, std::string_view key,
                                   std::string_view value, int64_t timestamp_ms, uint64_t opaque) {
  while (true) {
    Status s = sink_->Send(topic, partition, key, value, timestamp_ms, opaque);
    if (s.code() != Status::Code::kUnavailable) return s;
    // The producer's queue is full: serve acks to make room.
    sink_->Poll(100);
    if (!fatal_.ok()) return fatal_;
  }
}

void SignalWorker::OnDelivery(const DeliveryReport& report) {
  size_t slot = static_cast<size_t>(report.opaque >> 48);
  bool dead_letter = (report.opaque & kDeadLetterBit) != 0;
  auto offset = static_cast<int64_t>(report.opaque & kOffsetMask);
  if (slot >= slots_.size()) {
    spdlog::error("delivery report for unknown slot {}", slot);
    return;
  }
  Slot& s = slots_[slot];
  if (!report.status.ok()) {
    s.tracker.Fail(offset);
    spdlog::error("{} for source {}[{}]@{} not delivered: {}",
                  dead_letter ? "dead letter" : "record", s.topic, s.partition, offset,
                  report.status.ToString());
    if (fatal_.ok()) {
      fatal_ = Status::Unavailable("output of " + s.topic + "[" + std::to_string(s.partition) +
                                   "]@" + std::to_string(offset) +
                                   " not delivered: " + report.status.message());
    }
    return;
  }
  InFlightTimes times;
  if (!s.tracker.Ack(offset, &times)) return;
  if (dead_letter) {
    metrics_->DeadLettered();
    return;
  }
  int64_t now_ms = clock_->NowMs();
  metrics_->Written();
  if (first_output_ms_ == 0) {
    first_output_ms_ = now_ms;
    PublishSnapshot();
  }
  metrics_->WrittenLatencies(SecondsBetween(times.event_time_ms, now_ms),
                             SecondsBetween(times.append_time_ms, now_ms),
                             SecondsBetween(times.consumed_ms, now_ms));
}

Status SignalWorker::CommitDue(int64_t now_ms) {
  if (now_ms - last_commit_ms_ < options_.commit_interval_ms) return Status::Ok();
  last_commit_ms_ = now_ms;
  Status failed = source_->TakeCommitError();
  if (!failed.ok()) {
    // An earlier asynchronous commit was lost after its offsets were marked
    // committed: commit every partition again, or an idle partition would
    // keep a stale group offset (and report a wrong one) indefinitely.
    metrics_->KafkaError("commit");
    spdlog::warn("offset commit failed, committing all partitions again: {}",
                 failed.ToString());
    recommit_all_ = true;
  }
  std::vector<TopicPartitionOffset> offsets;
  for (const Slot& s : slots_) {
    if (s.tracker.NeedsCommit() || (recommit_all_ && s.tracker.CommittableOffset() >= 0)) {
      offsets.push_back({s.topic, s.partition, s.tracker.CommittableOffset()});
    }
  }
  UpdateLag();
  if (!offsets.empty()) {
    Status st = source_->Commit(offsets, /*sync=*/false);
    if (st.ok()) {
      recommit_all_ = false;
      for (const auto& o : offsets) {
        slots_[FindSlot(o.topic, o.partition)].tracker.MarkCommitted(o.offset);
      }
    } else {
      // Not fatal: the next commit (or the one on shutdown) covers these.
      metrics_->KafkaError("commit");
      spdlog::warn("offset commit failed: {}", st.ToString());
    }
  }
  PublishSnapshot();
  return Status::Ok();
}

void SignalWorker::UpdateLag() {
  int64_t total = 0;
  for (const Slot& s : slots_) {
    int64_t next = s.tracker.next_offset();
    if (next < 0) next = s.tracker.CommittableOffset();
    int64_t lag = source_->Lag(s.topic, s.partition, next);
    metrics_->Lag(s.topic, s.partition, lag);
    if (lag > 0) total += lag;
  }
  lag_ = total;
}

Status SignalWorker::Run(const std::function<bool()>& stop) {
  Status s;
  while (!stop()) {
    s = RunOnce();
    if (!s.ok()) break;
  }
  Status f = Finish();
  return !s.ok() ? s : f;
}

Status SignalWorker::Finish() {
  ready_.store(false, std::memory_order_release);
  Status flushed = sink_->Flush(options_.flush_timeout_ms);
  if (!flushed.ok()) spdlog::error("flush on shutdown: {}", flushed.ToString());
  std::vector<TopicPartitionOffset> offsets = CommittableOffsets();
  Status committed = source_->Commit(offsets, /*sync=*/true);
  if (committed.ok()) {
    for (const auto& o : offsets) {
      slots_[FindSlot(o.topic, o.partition)].tracker.MarkCommitted(o.offset);
    }
    spdlog::info("committed {} partitions on shutdown", offsets.size());
    PublishSnapshot();
  } else {
    spdlog::error("offset commit on shutdown failed: {}", committed.ToString());
  }
  if (!fatal_.ok()) return fatal_;
  if (!flushed.ok()) return flushed;
  return committed;
}

std::vector<TopicPartitionOffset> SignalWorker::CommittableOffsets() const {
  std::vector<TopicPartitionOffset> offsets;
  for (const Slot& s : slots_) {
    if (s.tracker.CommittableOffset() >= 0) {
      offsets.push_back({s.topic, s.partition, s.tracker.CommittableOffset()});
    }
  }
  return offsets;
}

}  // namespace usp
