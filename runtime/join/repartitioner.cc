#include "runtime/join/repartitioner.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>

#include "core/murmur2.h"

namespace usp {

Repartitioner::Repartitioner(RepartitionStep step, SourceReader* source, RecordSink* sink,
                             Clock* clock, RepartitionerOptions options)
    : step_(std::move(step)),
      source_(source),
      sink_(sink),
      clock_(clock),
      options_(std::move(options)) {
  sink_->SetDeliveryCallback([this](const DeliveryReport& r) {
    auto t = tickets_.find(r.opaque);
    if (t == tickets_.end()) return;
    const auto [slot, offset] = t->second;
    tickets_.erase(t);
    if (slot >= slots_.size()) return;
    if (!r.status.ok()) {
      slots_[slot].tracker.Fail(offset);
      if (fatal_.ok()) {
        fatal_ = Status::Unavailable(step_.target_topic + " record not delivered: " +
                                     r.status.message());
      }
      return;
    }
    slots_[slot].tracker.Ack(offset);
    ++forwarded_;
  });
}

Status Repartitioner::Start() {
  auto n = sink_->PartitionCount(step_.target_topic);
  if (!n.ok()) return n.status();
  if (*n <= 0) return Status::InvalidArgument(step_.target_topic + " has no partitions");
  target_partitions_ = *n;
  auto s = source_->PartitionCount(step_.source_topic);
  if (!s.ok()) return s.status();
  for (int32_t p : options_.partitions) {
    if (p < 0 || p >= *s) {
      return Status::InvalidArgument(step_.source_topic + " has no partition " +
                                     std::to_string(p));
    }
  }
  return Assign(options_.partitions);
}

Status Repartitioner::Assign(std::vector<int32_t> partitions) {
  std::sort(partitions.begin(), partitions.end());
  partitions.erase(std::unique(partitions.begin(), partitions.end()), partitions.end());
  std::vector<TopicPartition> wanted;
  for (int32_t p : partitions) wanted.push_back({step_.source_topic, p});
  std::vector<Slot> slots;
  std::vector<TopicPartitionOffset> starts;
  if (!wanted.empty()) {
    auto committed = source_->Committed(wanted);
    if (!committed.ok()) return committed.status();
    for (size_t i = 0; i < wanted.size(); ++i) {
      const int64_t offset = (*committed)[i].offset;
      Slot slot{wanted[i].partition, PartitionOffsetTracker(offset)};
      slot.tracker.MarkCommitted(offset);
      slots.push_back(std::move(slot));
      starts.push_back(
          {step_.source_topic, wanted[i].partition, offset >= 0 ? offset : kOffsetCommitted});
    }
  }
  USP_RETURN_IF_ERROR(source_->Assign(starts));
  slots_ = std::move(slots);
  tickets_.clear();
  last_commit_ms_ = clock_->NowMs();
  return Status::Ok();
}

bool Repartitioner::JoinKey(std::string_view payload, std::string* key) {
  simdjson::dom::element doc;
  if (parser_.parse(payload.data(), payload.size(), true).get(doc)) return false;
  auto value = step_.join_key_field.Resolve(doc);
  if (!value) return false;
  char buf[24];
  switch (value->type()) {
    case simdjson::dom::element_type::STRING:
      key->assign(value->get_string().value_unsafe());
      return !key->empty();
    case simdjson::dom::element_type::INT64: {
      auto r = std::to_chars(buf, buf + sizeof(buf), value->get_int64().value_unsafe());
      key->assign(buf, r.ptr);
      return true;
    }
    case simdjson::dom::element_type::UINT64: {
      auto r = std::to_chars(buf, buf + sizeof(buf), value->get_uint64().value_unsafe());
      key->assign(buf, r.ptr);
      return true;
    }
    default:
      return false;
  }
}

Status Repartitioner::RunOnce() {
  sink_->Poll(0);
  if (!fatal_.ok()) return fatal_;
  USP_RETURN_IF_ERROR(source_->Poll(options_.max_batch, options_.poll_timeout_ms, &batch_));
  for (const ConsumedMessage& m : batch_) {
    if (m.topic != step_.source_topic) continue;
    size_t slot = slots_.size();
    for (size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].partition == m.partition) slot = i;
    }
    if (slot == slots_.size()) continue;  // not ours (any more)
    if (!slots_[slot].tracker.Begin(m.offset)) continue;  // redelivered
    int32_t partition;
    if (JoinKey(m.payload, &key_)) {
      partition = PartitionForKey(key_, target_partitions_);
    } else {
      key_.clear();
      partition = m.partition % target_partitions_;
      ++keyless_;
    }
    const uint64_t ticket = next_ticket_++;
    tickets_[ticket] = {slot, m.offset};
    const int64_t timestamp = m.timestamp_ms >= 0 ? m.timestamp_ms : 0;
    while (true) {
      Status s = sink_->Send(step_.target_topic, partition, key_, m.payload, timestamp, ticket);
      if (s.ok()) break;
      if (s.code() != Status::Code::kUnavailable) {
        tickets_.erase(ticket);
        slots_[slot].tracker.Fail(m.offset);
        return s;
      }
      sink_->Poll(100);  // queue full
      if (!fatal_.ok()) return fatal_;
    }
  }
  sink_->Poll(0);
  if (!fatal_.ok()) return fatal_;
  return CommitDue(/*sync=*/false);
}

Status Repartitioner::CommitDue(bool sync) {
  const int64_t now = clock_->NowMs();
  if (!sync && now - last_commit_ms_ < options_.commit_interval_ms) return Status::Ok();
  last_commit_ms_ = now;
  std::vector<TopicPartitionOffset> offsets;
  for (const Slot& s : slots_) {
    if (s.tracker.NeedsCommit()) {
      offsets.push_back({step_.source_topic, s.partition, s.tracker.CommittableOffset()});
    }
  }
  if (offsets.empty()) return Status::Ok();
  USP_RETURN_IF_ERROR(source_->Commit(offsets, sync));
  for (const auto& o : offsets) {
    for (Slot& s : slots_) {
      if (s.partition == o.partition) s.tracker.MarkCommitted(o.offset);
    }
  }
  return Status::Ok();
}

Status Repartitioner::Finish() {
  USP_RETURN_IF_ERROR(sink_->Flush(options_.flush_timeout_ms));
  if (!fatal_.ok()) return fatal_;
  return CommitDue(/*sync=*/true);
}

Status Repartitioner::Reassign(std::vector<int32_t> partitions) {
  USP_RETURN_IF_ERROR(Finish());
  return Assign(std::move(partitions));
}

}  // namespace usp
