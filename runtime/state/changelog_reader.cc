#include "runtime/state/changelog_reader.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <future>
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
  return CatchUpAll({partition}, timeout_ms);
}

Result<std::vector<int64_t>> ChangelogReader::HighWatermarks(const std::vector<int32_t>& partitions,
                                                             int timeout_ms) {
  // A watermark query may be answered only after the fetch the consumer has
  // outstanding on the same broker connection (up to fetch.wait.max.ms):
  // asked one after another, N partitions would cost N fetch waits. The
  // client is thread-safe and each query waits on its own reply queue.
  std::vector<std::future<Result<Watermarks>>> queries;
  queries.reserve(partitions.size());
  for (int32_t p : partitions) {
    queries.push_back(std::async(partitions.size() == 1 ? std::launch::deferred : std::launch::async,
                                 [this, p, timeout_ms] {
                                   return consumer_->QueryWatermarks(topic_, p, timeout_ms);
                                 }));
  }
  std::vector<int64_t> highs;
  Status first_error = Status::Ok();
  for (auto& q : queries) {  // every query is waited for, even after an error
    Result<Watermarks> marks = q.get();
    if (!marks.ok()) {
      if (first_error.ok()) first_error = marks.status();
      continue;
    }
    highs.push_back(marks->high);
  }
  if (!first_error.ok()) return first_error;
  return highs;
}

Status ChangelogReader::CatchUpAll(const std::vector<int32_t>& requested, int timeout_ms) {
  std::vector<int32_t> parts = requested;
  std::sort(parts.begin(), parts.end());
  parts.erase(std::unique(parts.begin(), parts.end()), parts.end());
  if (parts.empty()) return Status::Ok();
  auto ends = HighWatermarks(parts, timeout_ms);
  if (!ends.ok()) return ends.status();
  // (partition, end) still to read; a warm standby usually has none.
  std::vector<std::pair<int32_t, int64_t>> behind;
  std::vector<int32_t> with = following_;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (store_->ChangelogNext(parts[i]) >= (*ends)[i]) continue;
    behind.emplace_back(parts[i], (*ends)[i]);
    if (!std::binary_search(following_.begin(), following_.end(), parts[i])) {
      with.push_back(parts[i]);
    }
  }
  if (behind.empty()) return Status::Ok();
  const bool reassigned = with.size() != following_.size();
  if (reassigned) {
    std::sort(with.begin(), with.end());
    USP_RETURN_IF_ERROR(AssignAll(with));
  }
  // Unavailable only when no partition still behind advanced for
  // timeout_ms: a large restore of many partitions may take longer in total.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::vector<int64_t> last_positions;
  Status result = Status::Ok();
  while (true) {
    std::erase_if(behind, [this](const std::pair<int32_t, int64_t>& b) {
      return store_->ChangelogNext(b.first) >= b.second;
    });
    if (behind.empty()) break;
    std::vector<int64_t> positions;  // differs when a partition behind advanced or finished
    for (const auto& b : behind) positions.push_back(store_->ChangelogNext(b.first));
    if (positions != last_positions) {
      last_positions = std::move(positions);
      deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    }
    if (std::chrono::steady_clock::now() > deadline) {
      const auto& [p, end] = behind.front();
      result = Status::Unavailable("changelog " + topic_ + "[" + std::to_string(p) +
                                   "] not caught up to " + std::to_string(end) + " within " +
                                   std::to_string(timeout_ms) + " ms (at " +
                                   std::to_string(store_->ChangelogNext(p)) + "; " +
                                   std::to_string(behind.size()) + " partition(s) behind)");
      break;
    }
    auto r = Poll(50);
    if (!r.ok()) {
      result = r.status();
      break;
    }
  }
  if (reassigned) {
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
