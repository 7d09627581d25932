#include "runtime/query/materializer.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "core/segment/segment_record.h"
#include "core/session/session_record.h"
#include "core/signal_record.h"

namespace usp {

namespace {

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Result<int32_t> DiscoverPartitionCount(SignalSource* source, const std::vector<std::string>& topics,
                                       int timeout_ms) {
  int32_t count = 0;
  std::string first;
  for (const std::string& topic : topics) {
    auto n = source->PartitionCount(topic, timeout_ms);
    if (!n.ok()) return n.status();
    if (count == 0) {
      count = *n;
      first = topic;
    } else if (*n != count) {
      return Status::InvalidArgument("output topics must share one partition count: " + first +
                                     " has " + std::to_string(count) + ", " + topic + " has " +
                                     std::to_string(*n));
    }
  }
  if (count == 0) return Status::NotFound("no output topics to materialize");
  return count;
}

std::vector<std::string> MaterializerOptions::AllTopics() const {
  std::set<std::string> all;
  for (const auto* by_topic : {&topics, &segment_topics, &session_topics}) {
    for (const auto& [topic, names] : *by_topic) all.insert(topic);
  }
  return {all.begin(), all.end()};
}

Materializer::Materializer(SignalSource* source, SignalStore* store, MaterializerProbe* probe,
                           MaterializerOptions options)
    : source_(source), store_(store), probe_(probe), options_(std::move(options)) {
  if (!options_.now_ms) options_.now_ms = SystemNowMs;
  auto add = [&](const std::map<std::string, std::set<std::string>>& by_topic, Kind kind) {
    for (const auto& [topic, names] : by_topic) {
      auto [it, inserted] = topics_.try_emplace(topic);
      if (!inserted && it->second.kind != kind) {
        config_status_ = Status::InvalidArgument("topic " + topic +
                                                 " is the output topic of two kinds of resource");
      }
      it->second.kind = kind;
      it->second.allowed.insert(names.begin(), names.end());
    }
  };
  add(options_.topics, Kind::kSignal);
  add(options_.segment_topics, Kind::kSegment);
  add(options_.session_topics, Kind::kSession);
}

Status Materializer::Start() {
  USP_RETURN_IF_ERROR(config_status_);
  auto stored = store_->ReadOffsets();
  if (!stored.ok()) return stored.status();
  std::map<TopicPartition, int64_t> stored_by_partition;
  for (const PartitionOffset& o : *stored) {
    stored_by_partition[{o.topic, o.partition}] = o.next_offset;
  }

  std::vector<TopicPartitionOffset> assignment;
  for (const auto& [topic, info] : topics_) {
    auto count = source_->PartitionCount(topic, options_.metadata_timeout_ms);
    if (!count.ok()) return count.status();
    std::vector<int32_t> partitions = options_.partitions;
    if (partitions.empty()) {
      for (int32_t p = 0; p < *count; ++p) partitions.push_back(p);
    }
    for (int32_t p : partitions) {
      if (p < 0 || p >= *count) {
        return Status::InvalidArgument("partition " + std::to_string(p) + " does not exist on " +
                                       topic + " (" + std::to_string(*count) + " partitions)");
      }
      TopicPartition tp{topic, p};
      auto watermarks = source_->QueryWatermarks(topic, p, options_.metadata_timeout_ms);
      if (!watermarks.ok()) return watermarks.status();
      // A partition whose messages are all gone (low == high) has nothing to catch up on.
      targets_[tp] = watermarks->low >= watermarks->high ? 0 : watermarks->high;
      auto it = stored_by_partition.find(tp);
      int64_t next = it == stored_by_partition.end() ? -1 : it->second;
      next_offsets_[tp] = next;
      assignment.push_back({topic, p, next >= 0 ? next : kOffsetBeginning});
    }
  }
  USP_RETURN_IF_ERROR(source_->Assign(assignment));
  spdlog::info("materializing {} partitions of {} topics", assignment.size(), topics_.size());
  UpdateCaughtUp();
  return Status::Ok();
}

Result<int> Materializer::PollOnce() {
  USP_RETURN_IF_ERROR(source_->Poll(options_.max_batch, options_.poll_timeout_ms, &messages_));
  if (messages_.empty()) {
    UpdateLag();
    return 0;
  }
  StoreBatch batch;
  std::vector<PartitionOffset>& offsets = batch.offsets;
  for (const ConsumedMessage& m : messages_) {
    // Few partitions per batch: a linear scan beats a map keyed by strings.
    PartitionOffset* offset = nullptr;
    for (PartitionOffset& o : offsets) {
      if (o.partition == m.partition && o.topic == m.topic) offset = &o;
    }
    if (offset == nullptr)
      offset = &offsets.emplace_back(PartitionOffset{std::string(m.topic), m.partition, 0});
    offset->next_offset = m.offset + 1;

    if (m.payload.empty()) {
      probe_->Failed("empty");
      continue;
    }
    auto info = topics_.find(m.topic);
    if (info == topics_.end()) {
      probe_->Failed("unknown_topic");
      continue;
    }
    auto parse_failed = [&](const Status& status) {
      probe_->Failed("parse");
      spdlog::debug("skipping malformed record at {}[{}]@{}: {}", m.topic, m.partition, m.offset,
                    status.message());
    };
    switch (info->second.kind) {
      case Kind::kSignal: {
        auto record = ParseSignalRecord(m.payload);
        if (!record.ok()) {
          parse_failed(record.status());
        } else if (!info->second.allowed.contains(record->signal)) {
          probe_->Failed("unknown_signal");
        } else {
          batch.signals.push_back(std::move(record).value());
        }
        break;
      }
      case Kind::kSegment: {
        auto record = ParseSegmentRecord(m.payload);
        if (!record.ok()) {
          parse_failed(record.status());
        } else if (!info->second.allowed.contains(record->segment)) {
          probe_->Failed("unknown_segment");
        } else {
          batch.segments.push_back(std::move(record).value());
        }
        break;
      }
      case Kind::kSession: {
        auto record = ParseSessionRecord(m.payload);
        if (!record.ok()) {
          parse_failed(record.status());
        } else if (!info->second.allowed.contains(record->job)) {
          probe_->Failed("unknown_job");
        } else {
          batch.sessions.push_back(std::move(record).value());
        }
        break;
      }
    }
  }
  probe_->Consumed(static_cast<int64_t>(messages_.size()));
  USP_RETURN_IF_ERROR(store_->Apply(batch));
  probe_->Written(
      static_cast<int64_t>(batch.signals.size() + batch.segments.size() + batch.sessions.size()));

  int64_t now = options_.now_ms();
  // Event time is defined for signals only (segment and session records carry
  // their own times, not the triggering event's).
  for (const SignalRecord& r : batch.signals) probe_->EventLatency((now - r.event_time) / 1000.0);
  for (const ConsumedMessage& m : messages_) {
    if (m.timestamp_ms > 0) probe_->IngestionLatency((now - m.timestamp_ms) / 1000.0);
  }
  for (const PartitionOffset& o : offsets) next_offsets_[{o.topic, o.partition}] = o.next_offset;
  UpdateLag();
  UpdateCaughtUp();
  return static_cast<int>(messages_.size());
}

Status Materializer::Run(const std::function<bool()>& should_stop) {
  while (!should_stop()) {
    auto polled = PollOnce();
    if (!polled.ok()) return polled.status();
  }
  return Status::Ok();
}

void Materializer::UpdateLag() {
  // Output topics are co-partitioned by user: one series per partition number.
  std::map<int32_t, int64_t> lag;
  for (const auto& [tp, next] : next_offsets_) {
    int64_t behind = source_->Lag(tp.topic, tp.partition, next);
    if (behind >= 0) lag[tp.partition] += behind;
  }
  for (const auto& [partition, behind] : lag) probe_->Lag(partition, behind);
}

void Materializer::UpdateCaughtUp() {
  if (caught_up()) return;
  for (const auto& [tp, target] : targets_) {
    if (target <= 0) continue;
    if (next_offsets_[tp] < target) return;
  }
  caught_up_.store(true, std::memory_order_release);
  spdlog::info("caught up with the output topics' high watermarks at startup");
}

}  // namespace usp
