#include "runtime/stateful/stateful_worker.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "core/murmur2.h"
#include "runtime/state/state_codec.h"

namespace usp {

namespace {

constexpr char kStatePrefix[] = "s/";
// Present in a partition of the store while this worker owns it: the owner's
// writes run ahead of the changelog (which waits for the outputs), so after
// an unclean stop the partition is rebuilt from the changelog instead.
const std::string kOwnerMarker("\0O", 2);

std::string StateKey(std::string_view key) {
  std::string k(kStatePrefix);
  k.append(key);
  return k;
}

}  // namespace

void ProcessorEffects::Clear() {
  state_changed = false;
  state.reset();
  outputs.clear();
  timers_to_set.clear();
  timers_to_cancel.clear();
}

namespace {

// Binary envelope (format 2; the first byte tells the formats apart, a JSON
// envelope always starts with '{'):
//   0x02 | varint n | n x (varint len, topic, fixed64 offset) | 0x00 (no state)
//                                                           | 0x01 state bytes (the rest)
constexpr char kEnvelopeBinary = '\x02';

Result<StateEnvelope> DecodeJsonEnvelope(std::string_view bytes) {
  nlohmann::json j = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::InvalidArgument("corrupt state envelope");
  StateEnvelope e;
  try {
    if (j.contains("o")) e.offsets = j.at("o").get<std::map<std::string, int64_t>>();
    if (j.contains("s")) e.state = j.at("s").get<std::string>();
  } catch (const nlohmann::json::exception& ex) {
    return Status::InvalidArgument(std::string("corrupt state envelope: ") + ex.what());
  }
  return e;
}

}  // namespace

void EncodeStateEnvelopeTo(const StateEnvelope& e, std::string* out) {
  using namespace state_codec;
  out->clear();
  out->reserve(16 + e.offsets.size() * 24 + (e.state ? e.state->size() : 0));
  out->push_back(kEnvelopeBinary);
  PutVarint(e.offsets.size(), out);
  for (const auto& [topic, offset] : e.offsets) {
    PutBytes(topic, out);
    PutFixed64(offset, out);
  }
  out->push_back(e.state ? '\x01' : '\x00');
  if (e.state) out->append(*e.state);
}

std::string EncodeStateEnvelope(const StateEnvelope& e) {
  std::string out;
  EncodeStateEnvelopeTo(e, &out);
  return out;
}

std::string EncodeJsonStateEnvelope(const StateEnvelope& e) {
  nlohmann::json j = {{"o", e.offsets}};
  if (e.state) j["s"] = *e.state;
  return j.dump();
}

Result<StateEnvelope> DecodeStateEnvelope(std::string_view bytes) {
  if (!bytes.empty() && bytes.front() == '{') return DecodeJsonEnvelope(bytes);  // format 1
  if (bytes.empty() || bytes.front() != kEnvelopeBinary) {
    return Status::InvalidArgument("corrupt state envelope: unknown format");
  }
  using namespace state_codec;
  std::string_view in = bytes.substr(1);
  StateEnvelope e;
  uint64_t n = 0;
  if (!GetVarint(&in, &n) || n > in.size()) {
    return Status::InvalidArgument("corrupt state envelope: offsets");
  }
  for (uint64_t i = 0; i < n; ++i) {
    std::string_view topic;
    int64_t offset = 0;
    if (!GetBytes(&in, &topic) || !GetFixed64(&in, &offset)) {
      return Status::InvalidArgument("corrupt state envelope: offset entry");
    }
    e.offsets.emplace(std::string(topic), offset);
  }
  if (in.empty() || (in.front() != '\x00' && in.front() != '\x01')) {
    return Status::InvalidArgument("corrupt state envelope: state flag");
  }
  if (in.front() == '\x01') e.state = std::string(in.substr(1));
  return e;
}

StatefulWorker::StatefulWorker(StatefulJob job, KeyedProcessor* processor, SourceReader* source,
                               RecordSink* sink, StateStore* store, ChangelogFollower* follower,
                               Clock* clock, StatefulWorkerOptions options)
    : job_(std::move(job)),
      processor_(processor),
      source_(source),
      sink_(sink),
      store_(store),
      follower_(follower),
      clock_(clock),
      options_(std::move(options)),
      state_cache_(options_.state_cache_bytes) {
  sink_->SetDeliveryCallback([this](const DeliveryReport& r) { OnDelivery(r); });
}

Status StatefulWorker::Start() {
  auto out = sink_->PartitionCount(job_.output_topic);
  if (!out.ok()) return out.status();
  output_partitions_ = *out;
  for (const auto& topic : job_.source_topics) {
    auto n = source_->PartitionCount(topic);
    if (!n.ok()) return n.status();
    if (partitions_count_ != 0 && *n != partitions_count_) {
      return Status::InvalidArgument("source topics of " + job_.kind + "/" + job_.name +
                                     " differ in partition count (" + topic + " has " +
                                     std::to_string(*n) + ", others " +
                                     std::to_string(partitions_count_) +
                                     "): state is partitioned by user like the sources");
    }
    partitions_count_ = *n;
  }
  auto changelog = sink_->PartitionCount(job_.changelog_topic);
  if (!changelog.ok()) return changelog.status();
  if (*changelog < partitions_count_) {
    return Status::InvalidArgument("changelog " + job_.changelog_topic + " has " +
                                   std::to_string(*changelog) + " partitions, the sources " +
                                   std::to_string(partitions_count_));
  }
  for (int32_t p = 0; p < partitions_count_; ++p) {
    auto marker = store_->Get(p, kOwnerMarker);
    if (!marker.ok()) return marker.status();
    if (!marker->has_value()) continue;
    spdlog::warn("{}/{}: partition {} was owned when this worker last stopped without draining; "
                 "its state is restored from the changelog",
                 job_.kind, job_.name, p);
    USP_RETURN_IF_ERROR(store_->DropPartition(p));
  }
  USP_RETURN_IF_ERROR(Assign(options_.partitions));
  ready_.store(true, std::memory_order_release);
  ObserveSources();
  Publish();
  return Status::Ok();
}

Status StatefulWorker::Assign(const std::vector<int32_t>& requested) {
  std::vector<int32_t> parts = requested;
  std::sort(parts.begin(), parts.end());
  parts.erase(std::unique(parts.begin(), parts.end()), parts.end());
  // Partitions this worker takes over: their state first (the changelog may
  // be ahead of the store), then the source from the committed offsets.
  std::vector<int32_t> gained;
  for (int32_t p : parts) {
    if (!std::binary_search(owned_.begin(), owned_.end(), p)) gained.push_back(p);
  }
  using Steady = std::chrono::steady_clock;  // phase durations for the log only
  const Steady::time_point started = Steady::now();
  if (follower_ != nullptr) {
    // All gained partitions at once: one watermark round and one fetch loop,
    // not one fetch wait per partition (issue 7: failover time).
    if (!gained.empty()) {
      USP_RETURN_IF_ERROR(follower_->CatchUpAll(gained, options_.catch_up_timeout_ms));
    }
    std::vector<int32_t> followed;
    for (int32_t p = 0; p < partitions_count_; ++p) {
      if (!std::binary_search(parts.begin(), parts.end(), p)) followed.push_back(p);
    }
    USP_RETURN_IF_ERROR(follower_->Follow(followed));
  }
  std::vector<TopicPartition> wanted;
  for (const auto& topic : job_.source_topics) {
    for (int32_t p : parts) wanted.push_back({topic, p});
  }
  std::vector<Slot> slots;
  std::vector<TopicPartitionOffset> starts;
  if (!wanted.empty()) {
    auto committed = source_->Committed(wanted);
    if (!committed.ok()) return committed.status();
    for (size_t i = 0; i < wanted.size(); ++i) {
      const int64_t offset = (*committed)[i].offset;
      Slot slot{wanted[i].topic, wanted[i].partition, PartitionOffsetTracker(offset), offset};
      slot.tracker.MarkCommitted(offset);
      slots.push_back(std::move(slot));
      starts.push_back({wanted[i].topic, wanted[i].partition, offset >= 0 ? offset : kOffsetCommitted});
    }
  }
  const Steady::time_point caught_up = Steady::now();
  USP_RETURN_IF_ERROR(source_->Assign(starts));
  // Owner markers: set before the first owner write, cleared once released
  // (the caller drained every output and changelog record first).
  for (int32_t p : parts) {
    if (std::binary_search(owned_.begin(), owned_.end(), p)) continue;
    USP_RETURN_IF_ERROR(store_->Apply(p, {StateWrite{kOwnerMarker, std::string("1")}}));
    USP_RETURN_IF_ERROR(LoadTimers(p, clock_->NowMs()));
  }
  if (!gained.empty()) {
    const auto ms = [](Steady::duration d) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
    };
    spdlog::info("{}/{}: took over {} partition(s) in {} ms (state caught up and source "
                 "offsets: {} ms, owner markers and timers: {} ms)",
                 job_.kind, job_.name, gained.size(), ms(Steady::now() - started),
                 ms(caught_up - started), ms(Steady::now() - caught_up));
  }
  for (int32_t p : owned_) {
    if (std::binary_search(parts.begin(), parts.end(), p)) continue;
    USP_RETURN_IF_ERROR(store_->Apply(p, {StateWrite{kOwnerMarker, std::nullopt}}));
    timers_.erase(p);
    timers_read_until_.erase(p);
  }
  std::vector<int32_t> moved;  // partitions gained or lost: processor caches of them are stale
  std::set_symmetric_difference(owned_.begin(), owned_.end(), parts.begin(), parts.end(),
                                std::back_inserter(moved));
  if (!moved.empty()) processor_->ForgetPartitions(moved);
  // Another owner, or the changelog, may have written them since.
  for (int32_t p : moved) state_cache_.DropPartition(p);
  slots_ = std::move(slots);
  tickets_.clear();
  outstanding_.clear();
  wave_ = ChangelogWave{};
  owned_ = std::move(parts);
  last_commit_ms_ = clock_->NowMs();
  return Status::Ok();
}

Status StatefulWorker::Drain() {
  // Outputs, then the changelog they released, then that changelog.
  while (true) {
    USP_RETURN_IF_ERROR(sink_->Flush(options_.flush_timeout_ms));
    if (!fatal_.ok()) return fatal_;
    if (deferred_.empty()) return Status::Ok();
    const size_t before = deferred_.size();
    USP_RETURN_IF_ERROR(ReleaseChangelog());
    if (deferred_.size() == before) {
      return Status::Unavailable("outputs of " + job_.kind + "/" + job_.name +
                                 " not acknowledged within the flush timeout");
    }
  }
}

Status StatefulWorker::DrainAndCommit() {
  USP_RETURN_IF_ERROR(FlushStaged());
  USP_RETURN_IF_ERROR(Drain());
  return CommitDue(clock_->NowMs(), /*sync=*/true);
}

AssignmentOutcome StatefulWorker::ApplyAssignment(int64_t epoch, std::vector<int32_t> partitions) {
  if (!ready()) return {AssignmentResult::kUnavailable, "worker not started"};
  std::sort(partitions.begin(), partitions.end());
  partitions.erase(std::unique(partitions.begin(), partitions.end()), partitions.end());
  for (int32_t p : partitions) {
    if (p < 0 || p >= partitions_count_) {
      return {AssignmentResult::kInvalid, "partitions: " + std::to_string(p) +
                                              " is out of range (source topics have " +
                                              std::to_string(partitions_count_) + " partitions)"};
    }
  }
  AssignmentResult result = CheckAssignmentEpoch(epoch_, owned_, epoch, partitions);
  if (result == AssignmentResult::kStale) {
    return {result, "epoch " + std::to_string(epoch) + " is older than current " +
                        std::to_string(epoch_)};
  }
  if (result == AssignmentResult::kConflicting) {
    return {result, "epoch " + std::to_string(epoch) + " is current with different partitions"};
  }
  if (result == AssignmentResult::kUnchanged) return {result, ""};
  if (partitions != owned_) {
    Status s = DrainAndCommit();
    if (s.ok()) s = Assign(partitions);
    if (!s.ok()) {
      spdlog::error("assignment epoch {} not applied: {}", epoch, s.ToString());
      return {AssignmentResult::kUnavailable, s.ToString()};
    }
    stats_.assigned_at_ms = clock_->NowMs();
    stats_.first_output_ms = 0;
  }
  epoch_ = epoch;
  ObserveSources();  // the partitions taken over, before their first timers
  Publish();
  return {AssignmentResult::kApplied, ""};
}

std::future<AssignmentOutcome> StatefulWorker::SubmitAssignment(int64_t epoch,
                                                                std::vector<int32_t> partitions) {
  auto pending = std::make_unique<Pending>(Pending{epoch, std::move(partitions), {}});
  std::future<AssignmentOutcome> done = pending->done.get_future();
  std::lock_guard<std::mutex> lock(mutex_);
  pending_.push_back(std::move(pending));
  return done;
}

Status StatefulWorker::Send(std::string_view topic, int32_t partition, std::string_view key,
                            std::string_view value, int64_t timestamp_ms, uint64_t opaque) {
  while (true) {
    Status s = sink_->Send(topic, partition, key, value, timestamp_ms, opaque);
    if (s.code() != Status::Code::kUnavailable) return s;
    sink_->Poll(100);  // queue full: serve acknowledgements to make room
    if (!fatal_.ok()) return fatal_;
  }
}

Status StatefulWorker::Commit(int32_t partition, const std::string& key,
                              const std::string& envelope_state, bool delete_state,
                              const ProcessorEffects& effects, uint64_t ticket, bool* pending) {
  std::vector<StateWrite> writes;
  const std::string state_key = StateKey(key);
  if (delete_state) {
    writes.push_back({state_key, std::nullopt});
  } else if (!envelope_state.empty()) {
    writes.push_back({state_key, envelope_state});
  }
  for (int64_t at : effects.timers_to_cancel) writes.push_back({TimerKey(at, key), std::nullopt});
  for (int64_t at : effects.timers_to_set) writes.push_back({TimerKey(at, key), std::string("1")});
  Stage(partition, writes);
  if (!effects.timers_to_cancel.empty() || !effects.timers_to_set.empty()) {
    auto& timers = timers_[partition];
    for (int64_t at : effects.timers_to_cancel) timers.erase({at, key});
    for (int64_t at : effects.timers_to_set) timers.emplace(at, key);
  }
  // Outputs first. The changelog records wait until every output of this
  // ticket (and the changelog of every earlier ticket) is on its way: a
  // state that reached the changelog always has its outputs delivered, so a
  // new owner that skips a replayed record loses nothing (ReleaseChangelog).
  int outputs = 0;
  for (const auto& o : effects.outputs) {
    if (RecordTooLarge(o.key, o.value, options_.max_record_bytes)) {
      USP_RETURN_IF_ERROR(SendOversized(partition, o, ticket));
      ++outputs;
      continue;
    }
    const bool dead_letter = !o.topic.empty();
    USP_RETURN_IF_ERROR(Send(dead_letter ? std::string_view(o.topic) : job_.output_topic,
                             dead_letter ? kAnyPartition : PartitionForKey(o.key, output_partitions_),
                             o.key, o.value, o.timestamp_ms, ticket));
    ++outputs;
  }
  *pending = outputs > 0 || !writes.empty();
  if (!*pending) return Status::Ok();
  outstanding_[ticket] = Outstanding{outputs, !writes.empty()};
  if (!writes.empty()) deferred_.push_back(DeferredChangelog{ticket, partition, std::move(writes)});
  return Status::Ok();
}

Status StatefulWorker::SendOversized(int32_t partition, const ProcessorOutput& o,
                                     uint64_t ticket) {
  // The producer would refuse it, on every restart: a dead letter instead,
  // named by the source record it came from (none for a timer's output).
  DeadLetterOrigin origin;
  origin.source_partition = partition;
  std::string key = o.key;
  auto t = tickets_.find(ticket);
  if (t != tickets_.end() && t->second.first < slots_.size()) {
    const Slot& slot = slots_[t->second.first];
    origin.source_topic = slot.topic;
    origin.source_offset = t->second.second;
    key = slot.topic + "-" + std::to_string(slot.partition) + "-" +
          std::to_string(t->second.second);
  }
  const size_t bytes = o.key.size() + o.value.size();
  const std::string message = job_.kind + " output record of " + std::to_string(bytes) +
                              " bytes exceeds the " + std::to_string(options_.max_record_bytes) +
                              "-byte record limit";
  origin.job = job_.name;
  origin.reason = "output_too_large";
  origin.message = message;
  const int64_t now = clock_->NowMs();
  std::string letter;
  BuildDeadLetter(origin, o.value, now, options_.max_record_bytes,
                  options_.dead_letter_payload_prefix, &letter);
  const std::string topic =
      job_.dead_letter_topic.empty() ? "usp.dlq." + job_.name : job_.dead_letter_topic;
  spdlog::warn("{}/{}: output for key {} from {}[{}]@{} dead-lettered to {}: {}", job_.kind,
               job_.name, o.key, origin.source_topic, partition, origin.source_offset, topic,
               message);
  ++stats_.dead_lettered;
  if (options_.metrics != nullptr) {
    options_.metrics->Failed("output_too_large");
    options_.metrics->DeadLettered();
  }
  return Send(topic, kAnyPartition, key, letter, now, ticket);
}

Status StatefulWorker::ReleaseChangelog() {
  if (wave_.opaque != 0) return Status::Ok();  // one wave in flight at a time
  std::vector<DeferredChangelog> released;
  while (!deferred_.empty()) {
    auto it = outstanding_.find(deferred_.front().ticket);
    if (it != outstanding_.end() && it->second.outputs > 0) break;  // in ticket order
    released.push_back(std::move(deferred_.front()));
    deferred_.pop_front();
  }
  if (released.empty()) return Status::Ok();
  // Each key's last write, in the order the keys were first written.
  std::vector<std::pair<int32_t, const StateWrite*>> records;
  std::map<std::pair<int32_t, std::string_view>, size_t> index;
  wave_.tickets.clear();
  for (const DeferredChangelog& d : released) {
    wave_.tickets.push_back(d.ticket);
    for (const StateWrite& w : d.writes) {
      auto [at, added] = index.try_emplace({d.partition, std::string_view(w.key)}, records.size());
      if (added) {
        records.emplace_back(d.partition, &w);
      } else {
        records[at->second].second = &w;
      }
    }
  }
  wave_.opaque = next_ticket_++;
  // Counted before sending: a delivery report may arrive inside Send().
  wave_.unacknowledged = records.size();
  const int64_t now = clock_->NowMs();
  const uint64_t opaque = wave_.opaque;
  for (const auto& [partition, w] : records) {
    std::string_view value = w->value ? std::string_view(*w->value) : std::string_view();
    USP_RETURN_IF_ERROR(Send(job_.changelog_topic, partition, w->key, value, now, opaque));
  }
  return Status::Ok();
}

void StatefulWorker::WaveDone() {
  std::vector<uint64_t> tickets = std::move(wave_.tickets);
  wave_ = ChangelogWave{};
  for (uint64_t ticket : tickets) {
    auto it = outstanding_.find(ticket);
    if (it == outstanding_.end()) continue;
    it->second.changelog_pending = false;
    if (it->second.outputs == 0) TicketDone(ticket);
  }
}

void StatefulWorker::TicketDone(uint64_t ticket) {
  outstanding_.erase(ticket);
  auto t = tickets_.find(ticket);
  if (t == tickets_.end()) return;  // a timer's ticket: no source offset
  if (t->second.first < slots_.size()) slots_[t->second.first].tracker.Ack(t->second.second);
  tickets_.erase(t);
}

Status StatefulWorker::ProcessMessage(size_t slot_index, const ConsumedMessage& m) {
  Slot& slot = slots_[slot_index];
  if (!slot.tracker.Begin(m.offset)) return Status::Ok();  // redelivered
  const uint64_t ticket = next_ticket_++;
  tickets_[ticket] = {slot_index, m.offset};
  auto done_without_records = [&] {
    tickets_.erase(ticket);
    slot.tracker.Ack(m.offset);
  };
  const SourceRecordMeta meta{m.topic, m.partition, m.offset, m.timestamp_ms};
  auto key = processor_->KeyOfRecord(meta, m.payload);
  if (!key.ok()) {
    ++stats_.invalid;
    spdlog::warn("{}/{}: {}[{}]@{} skipped: {}", job_.kind, job_.name, m.topic, m.partition,
                 m.offset, key.status().message());
    done_without_records();
    return Status::Ok();
  }
  auto stored = GetState(m.partition, *key);
  if (!stored.ok()) return stored.status();
  StateEnvelope envelope;
  if (stored->has_value()) {
    auto decoded = DecodeStateEnvelope(**stored);
    if (!decoded.ok()) return decoded.status();
    envelope = std::move(decoded).value();
  }
  const std::string topic(m.topic);
  auto last = envelope.offsets.find(topic);
  if (last != envelope.offsets.end() && m.offset <= last->second) {
    ++stats_.replayed;  // already in the state (and its outputs were sent then)
    done_without_records();
    return Status::Ok();
  }
  ProcessorEffects effects;
  USP_RETURN_IF_ERROR(processor_->ProcessRecord(meta, *key, m.payload, envelope.state, &effects));
  if (effects.state_changed) envelope.state = effects.state;
  envelope.offsets[topic] = m.offset;
  bool pending = false;
  EncodeStateEnvelopeTo(envelope, &envelope_buffer_);
  USP_RETURN_IF_ERROR(Commit(m.partition, *key, envelope_buffer_, false, effects, ticket,
                             &pending));
  ++stats_.processed;
  if (!pending) done_without_records();
  return Status::Ok();
}

Status StatefulWorker::FireDueTimers(int64_t now_ms) {
  std::vector<std::pair<int64_t, std::string>> due;
  for (int32_t p : owned_) {
    auto timers = timers_.find(p);
    if (timers == timers_.end()) continue;
    // At most 1000 per partition and iteration, like a store scan did.
    due.clear();
    for (auto t = timers->second.begin();
         t != timers->second.end() && t->first <= now_ms && due.size() < 1000; ++t) {
      due.push_back(*t);
    }
    for (const auto& [at, key] : due) {
      auto stored = GetState(p, key);
      if (!stored.ok()) return stored.status();
      StateEnvelope envelope;
      if (stored->has_value()) {
        auto decoded = DecodeStateEnvelope(**stored);
        if (!decoded.ok()) return decoded.status();
        envelope = std::move(decoded).value();
      }
      ProcessorEffects effects;
      USP_RETURN_IF_ERROR(processor_->OnTimer(key, at, envelope.state, &effects));
      effects.timers_to_cancel.push_back(at);  // fired
      const bool drop = effects.state_changed && !effects.state.has_value() && envelope.offsets.empty();
      if (effects.state_changed) envelope.state = effects.state;
      bool pending = false;  // a ticket without a source offset
      USP_RETURN_IF_ERROR(Commit(p, key, effects.state_changed ? EncodeStateEnvelope(envelope) : "",
                                 drop, effects, next_ticket_++, &pending));
      ++stats_.timers_fired;
    }
  }
  return Status::Ok();
}

void StatefulWorker::Stage(int32_t partition, const std::vector<StateWrite>& writes) {
  if (writes.empty()) return;
  std::vector<StateWrite>& staged = staged_[partition];
  for (const StateWrite& w : writes) {
    // Only state keys are read back before the flush (timers live in
    // timers_); a state key written again in the batch is written once.
    if (w.key.starts_with(kStatePrefix)) {
      auto [at, added] = staged_state_.try_emplace({partition, w.key}, staged.size());
      if (!added) {
        staged[at->second].value = w.value;
        continue;
      }
    }
    staged.push_back(w);
  }
}

Result<std::optional<std::string>> StatefulWorker::GetState(int32_t partition,
                                                            std::string_view key) {
  std::string state_key = StateKey(key);
  if (!staged_state_.empty()) {
    auto it = staged_state_.find({partition, state_key});
    if (it != staged_state_.end()) return staged_[partition][it->second].value;
  }
  if (const auto* cached = state_cache_.Find(partition, state_key)) return *cached;
  auto stored = store_->Get(partition, state_key);
  if (stored.ok()) state_cache_.Put(partition, std::move(state_key), *stored);
  return stored;
}

Status StatefulWorker::FlushStaged() {
  for (auto& [partition, writes] : staged_) {
    if (!writes.empty()) USP_RETURN_IF_ERROR(store_->Apply(partition, writes));
  }
  // What was just written is what the store now holds.
  for (auto& [where, index] : staged_state_) {
    state_cache_.Put(where.first, where.second, std::move(staged_[where.first][index].value));
  }
  staged_state_.clear();
  for (auto& [partition, writes] : staged_) writes.clear();
  return Status::Ok();
}

int64_t StatefulWorker::NextTimerMs() {
  int64_t next = INT64_MAX;
  for (const auto& [p, timers] : timers_) {
    if (!timers.empty()) next = std::min(next, timers.begin()->first);
  }
  return next;
}

Status StatefulWorker::LoadTimers(int32_t partition, int64_t now_ms) {
  const int64_t until = now_ms + options_.timer_horizon_ms;
  auto due = DueTimers(*store_, partition, until, SIZE_MAX);
  if (!due.ok()) return due.status();
  auto& timers = timers_[partition];
  timers.clear();
  for (auto& t : *due) timers.insert(std::move(t));
  timers_read_until_[partition] = until;
  return Status::Ok();
}

Status StatefulWorker::ExtendTimers(int64_t now_ms) {
  const int64_t until = now_ms + options_.timer_horizon_ms;
  for (int32_t p : owned_) {
    int64_t& read_until = timers_read_until_[p];
    if (read_until - now_ms > options_.timer_horizon_ms / 2) continue;
    // The store has every timer of p: the last batch was flushed.
    auto due = DueTimers(*store_, p, until, SIZE_MAX, read_until);
    if (!due.ok()) return due.status();
    auto& timers = timers_[p];
    for (auto& t : *due) timers.insert(std::move(t));
    read_until = until;
  }
  return Status::Ok();
}

void StatefulWorker::OnDelivery(const DeliveryReport& report) {
  if (!report.status.ok()) {
    if (fatal_.ok()) {
      fatal_ = Status::Unavailable(std::string(report.topic) + " record not delivered: " +
                                   report.status.message());
    }
    std::vector<uint64_t> failed{report.opaque};
    if (report.opaque == wave_.opaque) failed = wave_.tickets;
    for (uint64_t ticket : failed) {
      auto t = tickets_.find(ticket);
      if (t != tickets_.end()) slots_[t->second.first].tracker.Fail(t->second.second);
    }
    return;
  }
  if (stats_.first_output_ms == 0 && report.topic == job_.output_topic) {
    stats_.first_output_ms = clock_->NowMs();
  }
  if (wave_.opaque != 0 && report.opaque == wave_.opaque) {
    if (--wave_.unacknowledged == 0) WaveDone();
    return;
  }
  auto it = outstanding_.find(report.opaque);
  if (it == outstanding_.end()) return;
  Outstanding& o = it->second;
  if (o.outputs > 0) --o.outputs;
  if (o.outputs > 0 || o.changelog_pending) return;
  TicketDone(report.opaque);
}

Status StatefulWorker::CommitDue(int64_t now_ms, bool sync) {
  if (!sync && now_ms - last_commit_ms_ < options_.commit_interval_ms) return Status::Ok();
  last_commit_ms_ = now_ms;
  Status lost = source_->TakeCommitError();
  if (!lost.ok()) {
    // An asynchronous commit failed after its offsets were marked committed:
    // commit every partition again, or an idle one keeps a stale group offset.
    CountCommitError();
    spdlog::warn("{}/{}: offset commit failed, committing all partitions again: {}", job_.kind,
                 job_.name, lost.ToString());
    recommit_all_ = true;
  }
  std::vector<TopicPartitionOffset> offsets;
  for (const Slot& s : slots_) {
    if (s.tracker.NeedsCommit() || (recommit_all_ && s.tracker.CommittableOffset() >= 0)) {
      offsets.push_back({s.topic, s.partition, s.tracker.CommittableOffset()});
    }
  }
  if (offsets.empty()) return Status::Ok();
  Status committed = source_->Commit(offsets, sync);
  if (!committed.ok()) {
    // A refused commit is not worth a restart: the next one covers these
    // offsets. Only the final one (sync, on hand-over or stop) must succeed.
    CountCommitError();
    spdlog::warn("{}/{}: offset commit failed: {}", job_.kind, job_.name, committed.ToString());
    if (sync) return committed;
    return Status::Ok();
  }
  recommit_all_ = false;
  for (const auto& o : offsets) {
    for (Slot& s : slots_) {
      if (s.topic == o.topic && s.partition == o.partition) s.tracker.MarkCommitted(o.offset);
    }
  }
  return Status::Ok();
}

void StatefulWorker::CountCommitError() {
  ++stats_.commit_errors;
  if (options_.metrics != nullptr) options_.metrics->KafkaError("commit");
}

Status StatefulWorker::RunOnce() {
  int64_t now = clock_->NowMs();
  heartbeat_ms_.store(now, std::memory_order_relaxed);
  {
    std::vector<std::unique_ptr<Pending>> pending;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      pending.swap(pending_);
    }
    for (auto& p : pending) p->done.set_value(ApplyAssignment(p->epoch, std::move(p->partitions)));
  }
  sink_->Poll(0);
  if (!fatal_.ok()) return fatal_;
  USP_RETURN_IF_ERROR(ReleaseChangelog());
  USP_RETURN_IF_ERROR(ExtendTimers(now));
  USP_RETURN_IF_ERROR(FireDueTimers(now));
  USP_RETURN_IF_ERROR(FlushStaged());

  if (follower_ != nullptr) {
    auto replicated = follower_->Poll(0);
    if (!replicated.ok()) return replicated.status();
  }
  // Never sleep past the next timer; a standby only waits for assignments.
  int timeout = owned_.empty() ? std::min(options_.poll_timeout_ms, 5) : options_.poll_timeout_ms;
  // Records waiting for an acknowledgement to be released: come back soon.
  if (!deferred_.empty()) timeout = std::min(timeout, 5);
  const int64_t next_timer = NextTimerMs();
  if (next_timer != INT64_MAX) {
    timeout = static_cast<int>(std::clamp<int64_t>(next_timer - now, 0, timeout));
  }
  USP_RETURN_IF_ERROR(source_->Poll(options_.max_batch, timeout, &batch_));
  for (const ConsumedMessage& m : batch_) {
    size_t slot = slots_.size();
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].topic == m.topic && slots_[i].partition == m.partition) slot = i;
    }
    if (slot == slots_.size()) continue;  // not ours (any more)
    USP_RETURN_IF_ERROR(ProcessMessage(slot, m));
  }
  USP_RETURN_IF_ERROR(FlushStaged());  // before any of the batch's changelog is released
  sink_->Poll(0);
  if (!fatal_.ok()) return fatal_;
  USP_RETURN_IF_ERROR(ReleaseChangelog());
  sink_->Poll(0);
  if (!fatal_.ok()) return fatal_;
  USP_RETURN_IF_ERROR(CommitDue(clock_->NowMs(), /*sync=*/false));
  ObserveSources();  // for the next iteration's timers, and /status
  Publish();
  return Status::Ok();
}

Status StatefulWorker::Finish() {
  USP_RETURN_IF_ERROR(DrainAndCommit());
  // Everything owned reached the changelog: the store may be trusted on restart.
  for (int32_t p : owned_) {
    USP_RETURN_IF_ERROR(store_->Apply(p, {StateWrite{kOwnerMarker, std::nullopt}}));
  }
  return Status::Ok();
}

void StatefulWorker::ObserveSources() {
  lags_.resize(slots_.size());
  for (size_t i = 0; i < slots_.size(); ++i) {
    lags_[i] = source_->Lag(slots_[i].topic, slots_[i].partition, slots_[i].tracker.next_offset());
  }
  for (int32_t p : owned_) {
    bool behind = false;
    for (size_t i = 0; i < slots_.size() && !behind; ++i) {
      // -1: the end is not known yet (no fetch answered): not known to be quiet.
      behind = slots_[i].partition == p && lags_[i] != 0;
    }
    processor_->SetSourceBehind(p, behind);
  }
}

void StatefulWorker::Publish() {
  StatefulSnapshot snap = stats_;
  snap.started = ready();
  snap.epoch = epoch_;
  snap.partitions = owned_;
  int64_t lag = 0;
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    if (i < lags_.size() && lags_[i] > 0) lag += lags_[i];
    snap.committed.push_back({s.topic, s.partition, ShownCommitted(*source_, s)});
  }
  snap.lag = lag;
  snap.replica_lag = follower_ != nullptr ? follower_->Lag() : -1;
  std::lock_guard<std::mutex> lock(mutex_);
  snapshot_ = std::move(snap);
}

StatefulSnapshot StatefulWorker::Stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return snapshot_;
}

WorkerSnapshot StatefulWorker::Snapshot() const {
  StatefulSnapshot s = Stats();
  WorkerSnapshot w;
  w.started = s.started;
  w.epoch = s.epoch;
  w.partitions = s.partitions;
  for (const auto& topic : job_.source_topics) {
    for (int32_t p : s.partitions) w.assignment.push_back({topic, p});
  }
  w.lag = s.lag;
  w.assigned_at_ms = s.assigned_at_ms;
  w.first_output_ms = s.first_output_ms;
  w.replica_lag = s.replica_lag;
  w.committed = s.committed;
  return w;
}

}  // namespace usp
