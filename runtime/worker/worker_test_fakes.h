#pragma once
// Fakes of the worker's I/O edges for unit tests: a scripted SourceReader, a
// RecordSink whose acknowledgements the test controls, and a manual Clock.

#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/user_signal.h"
#include "runtime/worker/worker_io.h"

namespace usp::testing {

struct FakeMessage {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string payload;
  int64_t timestamp_ms = -1;
};

class FakeSourceReader : public SourceReader {
 public:
  std::map<std::string, int32_t> partition_counts;               // topic -> partitions
  std::map<std::pair<std::string, int32_t>, int64_t> committed;  // what Commit() stored
  std::vector<TopicPartitionOffset> assigned;
  std::deque<std::vector<FakeMessage>> batches;            // one per Poll()
  std::vector<std::vector<TopicPartitionOffset>> commits;  // every Commit() call
  Status poll_error;
  Status commit_error;  // handed out once by TakeCommitError(): a lost async commit
  int64_t lag = 0;

  // Appends a message to the next batch.
  void Add(const std::string& topic, int32_t partition, int64_t offset, std::string payload,
           int64_t timestamp_ms = -1) {
    if (batches.empty()) batches.emplace_back();
    batches.back().push_back({topic, partition, offset, std::move(payload), timestamp_ms});
  }

  Result<int32_t> PartitionCount(const std::string& topic) override {
    auto it = partition_counts.find(topic);
    if (it == partition_counts.end()) return Status::NotFound("no topic " + topic);
    return it->second;
  }
  Status Assign(const std::vector<TopicPartitionOffset>& partitions) override {
    assigned = partitions;
    return Status::Ok();
  }
  Result<std::vector<TopicPartitionOffset>> Committed(
      const std::vector<TopicPartition>& partitions) override {
    std::vector<TopicPartitionOffset> out;
    for (const auto& p : partitions) {
      auto it = committed.find({p.topic, p.partition});
      out.push_back({p.topic, p.partition, it == committed.end() ? kOffsetInvalid : it->second});
    }
    return out;
  }
  Status Poll(int max_messages, int timeout_ms, std::vector<ConsumedMessage>* out) override {
    out->clear();
    if (!poll_error.ok()) return poll_error;
    current_.clear();
    if (batches.empty()) return Status::Ok();
    current_ = std::move(batches.front());
    batches.pop_front();
    for (const FakeMessage& m : current_) {
      out->push_back({m.topic, m.partition, m.offset, {}, m.payload, m.timestamp_ms});
    }
    return Status::Ok();
  }
  Status Commit(const std::vector<TopicPartitionOffset>& offsets, bool sync) override {
    commits.push_back(offsets);
    for (const auto& o : offsets) committed[{o.topic, o.partition}] = o.offset;
    return Status::Ok();
  }
  Status TakeCommitError() override {
    Status s = std::move(commit_error);
    commit_error = Status::Ok();
    return s;
  }
  int64_t Lag(const std::string& topic, int32_t partition, int64_t next_offset) override {
    return lag;
  }

  int64_t CommittedOffset(const std::string& topic, int32_t partition) const {
    auto it = committed.find({topic, partition});
    return it == committed.end() ? kOffsetInvalid : it->second;
  }

 private:
  std::vector<FakeMessage> current_;
};

struct SentRecord {
  std::string topic;
  int32_t partition;
  std::string key;
  std::string value;
  int64_t timestamp_ms;
  uint64_t opaque;
};

class FakeRecordSink : public RecordSink {
 public:
  std::map<std::string, int32_t> partition_counts;
  std::vector<SentRecord> sent;  // everything sent, in order
  std::vector<size_t> unacked;   // indexes into `sent`
  bool auto_ack = true;          // ack everything on Poll()/Flush()
  int queue_full_times = 0;      // the next N Send() calls report a full queue
  size_t max_bytes = 0;          // > 0: larger key + value is refused, as librdkafka does
  int polls = 0;

  Result<int32_t> PartitionCount(const std::string& topic) override {
    auto it = partition_counts.find(topic);
    if (it == partition_counts.end()) return Status::NotFound("no topic " + topic);
    return it->second;
  }
  void SetDeliveryCallback(DeliveryCallback callback) override { callback_ = std::move(callback); }
  Status Send(std::string_view topic, int32_t partition, std::string_view key,
              std::string_view value, int64_t timestamp_ms, uint64_t opaque) override {
    if (queue_full_times > 0) {
      --queue_full_times;
      return Status::Unavailable("queue full");
    }
    if (max_bytes > 0 && key.size() + value.size() > max_bytes) {
      return Status::InvalidArgument("Message size too large (MSG_SIZE_TOO_LARGE)");
    }
    sent.push_back({std::string(topic), partition, std::string(key), std::string(value),
                    timestamp_ms, opaque});
    unacked.push_back(sent.size() - 1);
    return Status::Ok();
  }
  void Poll(int timeout_ms) override {
    ++polls;
    if (auto_ack) AckAll();
  }
  Status Flush(int timeout_ms) override {
    if (auto_ack) AckAll();
    return Status::Ok();
  }

  // Delivers the report of sent[index] with `status`.
  void Report(size_t index, Status status = Status::Ok()) {
    const SentRecord& r = sent[index];
    DeliveryReport report;
    report.opaque = r.opaque;
    report.status = std::move(status);
    report.topic = r.topic;
    report.partition = r.partition;
    report.offset = static_cast<int64_t>(index);
    std::erase(unacked, index);
    callback_(report);
  }
  void AckAll() {
    std::vector<size_t> pending = unacked;
    for (size_t i : pending) Report(i);
  }

 private:
  DeliveryCallback callback_;
};

class FakeClock : public Clock {
 public:
  int64_t now_ms = 1'700'000'000'000;
  int64_t NowMs() override { return now_ms; }
};

// A valid simple UserSignal named `name` reading `topic`, with `extra_spec`
// merged into its spec.
inline UserSignal MakeSignal(const std::string& name, const std::string& topic,
                             const nlohmann::json& extra_spec = nlohmann::json::object()) {
  nlohmann::json doc = {{"apiVersion", "usp.dev/v1alpha1"},
                        {"kind", "UserSignal"},
                        {"metadata", {{"name", name}}},
                        {"spec", {{"eventSources", {{{"kafkaTopic", topic}}}}}}};
  for (auto& [k, v] : extra_spec.items()) doc["spec"][k] = v;
  FieldErrors errors;
  auto signal = ParseUserSignal(doc, &errors);
  if (!signal) {
    std::string all;
    for (const auto& e : errors) all += e.ToString() + "; ";
    throw std::runtime_error("bad test signal: " + all);
  }
  return *signal;
}

}  // namespace usp::testing
