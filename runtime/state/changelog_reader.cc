#include "runtime/state/changelog_reader.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>

namespace usp {

std::string ChangelogTopic(const std::string& kind, const std::string& name) {
  std::string k = kind;
  std::transform(k.begin(), k.end(), k.begin(), [](unsigned char c) { return std::tolower(c); });
  return "usp.changelog." + k + "." + name;
}

Result<std::unique_ptr<ChangelogReader>> ChangelogReader::Create(const std::string& bootstrap,
                                                                 const std::string& topic,
                                                                 StateStore* store,
                                                                 const KafkaProperties& properties) {
  ConsumerOptions options;
  options.bootstrap = bootstrap;
  options.group_id = "usp-changelog-reader";  // required by the client; never committed
  options.client_id = "usp-changelog";
  options.properties = properties;
  auto consumer = KafkaConsumer::Create(options);
  if (!consumer.ok()) return consumer.status();
  return std::unique_ptr<ChangelogReader>(
      new ChangelogReader(std::move(consumer).value(), topic, store));
}

Status ChangelogReader::AssignAll(const std::vector<int32_t>& partitions) {
  std::vector<TopicPartitionOffset> assign;
  for (int32_t p : partitions) assign.push_back({topic_, p, store_->ChangelogNext(p)});
  return consumer_->Assign(assign);
}

Status ChangelogReader::Follow(std::vector<int32_t> partitions) {
  std::sort(partitions.begin(), partitions.end());
  partitions.erase(std::unique(partitions.begin(), partitions.end()), partitions.end());
  USP_RETURN_IF_ERROR(AssignAll(partitions));
  following_ = std::move(partitions);
  return Status::Ok();
}

Result<int64_t> ChangelogReader::Poll(int timeout_ms) {
  USP_RETURN_IF_ERROR(consumer_->Poll(10000, timeout_ms, &batch_));
  if (batch_.empty()) return int64_t{0};
  // Per partition, in offset order, as one atomic store write each.
  std::map<int32_t, std::vector<StateWrite>> writes;
  std::map<int32_t, int64_t> next;
  for (const ConsumedMessage& m : batch_) {
    if (m.topic != topic_) continue;
    StateWrite w;
    w.key.assign(m.key);
    if (!m.payload.empty()) w.value = std::string(m.payload);
    writes[m.partition].push_back(std::move(w));
    next[m.partition] = m.offset + 1;
  }
  for (auto& [p, ws] : writes) USP_RETURN_IF_ERROR(store_->Apply(p, ws, next[p]));
  return static_cast<int64_t>(batch_.size());
}

Status ChangelogReader::CatchUp(int32_t partition, int timeout_ms) {
  auto marks = consumer_->QueryWatermarks(topic_, partition, timeout_ms);
  if (!marks.ok()) return marks.status();
  const int64_t end = marks->high;
  if (store_->ChangelogNext(partition) >= end) return Status::Ok();
  const bool followed =
      std::binary_search(following_.begin(), following_.end(), partition);
  if (!followed) {
    std::vector<int32_t> with = following_;
    with.push_back(partition);
    USP_RETURN_IF_ERROR(AssignAll(with));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  Status result = Status::Ok();
  while (store_->ChangelogNext(partition) < end) {
    if (std::chrono::steady_clock::now() > deadline) {
      result = Status::Unavailable("changelog " + topic_ + "[" + std::to_string(partition) +
                                   "] not caught up to " + std::to_string(end) + " within " +
                                   std::to_string(timeout_ms) + " ms (at " +
                                   std::to_string(store_->ChangelogNext(partition)) + ")");
      break;
    }
    auto r = Poll(50);
    if (!r.ok()) {
      result = r.status();
      break;
    }
  }
  if (!followed) {
    Status s = AssignAll(following_);
    if (result.ok()) result = s;
  }
  return result;
}

int64_t ChangelogReader::Lag() {
  int64_t total = 0;
  for (int32_t p : following_) {
    const int64_t lag = consumer_->Lag(topic_, p, store_->ChangelogNext(p));
    if (lag < 0) return -1;
    total += lag;
  }
  return total;
}

}  // namespace usp
