#include "runtime/async/async_compute_sink.h"

#include <algorithm>
#include <utility>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace usp {

AsyncComputeSink::AsyncComputeSink(RecordSink* inner, std::unique_ptr<AsyncComputeClient> client,
                                   Clock* clock, AsyncComputeSinkOptions options)
    : inner_(inner), client_(std::move(client)), clock_(clock), options_(std::move(options)) {
  inner_->SetDeliveryCallback([this](const DeliveryReport& r) { OnInnerDelivery(r); });
}

AsyncComputeSink::~AsyncComputeSink() {
  client_->Stop();
  inner_->SetDeliveryCallback(owner_callback_);
}

Result<int32_t> AsyncComputeSink::PartitionCount(const std::string& topic) {
  return inner_->PartitionCount(topic);
}

void AsyncComputeSink::SetDeliveryCallback(DeliveryCallback callback) {
  owner_callback_ = std::move(callback);
}

void AsyncComputeSink::OnInnerDelivery(const DeliveryReport& report) {
  if ((report.opaque & kAsyncComputeOpaqueBit) == 0) {
    if (owner_callback_) owner_callback_(report);
    return;
  }
  if (report.status.ok()) {
    ++stats_.delivered;
  } else {
    ++stats_.delivery_failed;
    spdlog::warn("asyncCompute {}: enriched record not delivered to {}[{}]: {}",
                 client_->options().job, report.topic, report.partition,
                 report.status.message());
  }
}

int64_t AsyncComputeSink::NowMs() {
  if (clock_ != nullptr) return clock_->NowMs();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status AsyncComputeSink::Send(std::string_view topic, int32_t partition, std::string_view key,
                              std::string_view value, int64_t timestamp_ms, uint64_t opaque) {
  Status s = inner_->Send(topic, partition, key, value, timestamp_ms, opaque);
  if (!s.ok()) return s;  // the owner retries (queue full) or fails; submit then
  if (topic == options_.output_topic && (opaque & kAsyncComputeOpaqueBit) == 0) {
    Submit(topic, partition, key, value);
  }
  return s;
}

void AsyncComputeSink::Submit(std::string_view topic, int32_t partition, std::string_view key,
                              std::string_view value) {
  if (value.empty()) {  // tombstone
    ++stats_.skipped;
    return;
  }
  auto record = ParseSessionRecord(value);
  if (!record.ok() || record->async_result_json.has_value()) {
    ++stats_.skipped;
    return;
  }
  WindowId window{record->user_id, record->job, record->window_start, record->window_end};
  auto id = client_->Submit(std::string(value));
  if (!id.has_value()) {
    ++stats_.overflowed;
    auto w = windows_.find(window);
    if (w != windows_.end()) {
      w->second.latest_version = std::max(w->second.latest_version, record->version);
    }
    if (options_.write_failures) {
      if (unsent_.size() >= options_.max_unsent) {
        ++stats_.dropped;
        return;
      }
      Submitted s{std::string(topic), partition, std::string(key), std::move(record).value()};
      nlohmann::json error = {{"error", "no slot: " + std::to_string(client_->options().max_in_flight) +
                                            " requests in flight and the queue is full"},
                              {"reason", ToString(AsyncOutcome::kOverflow)}};
      Enqueue(s, error.dump());
      ++stats_.failures_written;
    }
    return;
  }
  ++stats_.submitted;
  WindowState& w = windows_[window];
  w.latest_version = std::max(w.latest_version, record->version);
  ++w.outstanding;
  submitted_.emplace(*id, Submitted{std::string(topic), partition, std::string(key),
                                    std::move(record).value()});
}

void AsyncComputeSink::Enqueue(const Submitted& s, std::string async_result_json) {
  SessionRecord enriched = s.record;
  enriched.async_result_json = std::move(async_result_json);
  const int64_t now = NowMs();
  enriched.version = std::max(now, s.record.version + 1);
  unsent_.push_back({s.topic, s.partition, s.key, SerializeSessionRecord(enriched), now});
}

bool AsyncComputeSink::SendUnsent() {
  while (!unsent_.empty()) {
    const Unsent& u = unsent_.front();
    Status s = inner_->Send(u.topic, u.partition, u.key, u.value, u.timestamp_ms,
                            kAsyncComputeOpaqueBit | next_opaque_);
    if (s.code() == Status::Code::kUnavailable) return false;  // queue full: next Poll()
    if (s.ok()) {
      ++next_opaque_;
    } else {
      ++stats_.dropped;
      spdlog::warn("asyncCompute {}: enriched record for {} not sent: {}", client_->options().job,
                   u.key, s.message());
    }
    unsent_.pop_front();
  }
  return true;
}

void AsyncComputeSink::Pump() {
  if (!SendUnsent()) return;  // back-pressure: answers wait in the client
  results_.clear();
  if (client_->Poll(&results_) == 0) return;
  for (AsyncComputeResult& r : results_) {
    auto it = submitted_.find(r.id);
    if (it == submitted_.end()) continue;
    Submitted s = std::move(it->second);
    submitted_.erase(it);
    WindowId window{s.record.user_id, s.record.job, s.record.window_start, s.record.window_end};
    auto w = windows_.find(window);
    bool superseded = false;
    if (w != windows_.end()) {
      superseded = w->second.latest_version > s.record.version;
      if (--w->second.outstanding <= 0) windows_.erase(w);
    }
    if (superseded) {
      ++stats_.superseded;
      continue;
    }
    if (r.outcome == AsyncOutcome::kOk) {
      Enqueue(s, std::move(r.answer));
      ++stats_.enriched;
    } else {
      spdlog::debug("asyncCompute {}: {} [{}, {}) {} after {} attempts: {}",
                    client_->options().job, s.record.user_id, s.record.window_start,
                    s.record.window_end, ToString(r.outcome), r.attempts, r.error);
      if (!options_.write_failures) continue;
      nlohmann::json error = {{"error", r.error}, {"reason", ToString(r.outcome)}};
      Enqueue(s, error.dump());
      ++stats_.failures_written;
    }
  }
  results_.clear();
  SendUnsent();
}

void AsyncComputeSink::Poll(int timeout_ms) {
  Pump();
  inner_->Poll(timeout_ms);
}

Status AsyncComputeSink::Flush(int timeout_ms) {
  const auto start = std::chrono::steady_clock::now();
  const auto wait_deadline =
      start + std::chrono::milliseconds(std::max(0, std::min(timeout_ms, options_.max_flush_wait_ms)));
  while (true) {
    Pump();
    if (client_->outstanding() == 0 && unsent_.empty()) break;
    const auto now = std::chrono::steady_clock::now();
    if (now >= wait_deadline) break;
    const int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(wait_deadline - now).count());
    if (unsent_.empty()) {
      client_->WaitForResults(std::min(left, 50));
    } else {
      inner_->Poll(std::min(left, 10));  // room for the unsent records
    }
  }
  if (pending() > 0) {
    spdlog::warn("asyncCompute {}: {} answers not written at flush", client_->options().job,
                 pending());
  }
  const int waited = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now() - start)
                                          .count());
  return inner_->Flush(std::max(timeout_ms - waited, 0));
}

size_t AsyncComputeSink::pending() const { return client_->outstanding() + unsent_.size(); }

std::unique_ptr<AsyncComputeSink> MakeAsyncComputeSink(RecordSink* inner, const std::string& kind,
                                                       const std::string& job,
                                                       const std::string& output_topic,
                                                       const AsyncComputeSpec& spec,
                                                       MetricsRegistry* metrics, Clock* clock) {
  auto client = std::make_unique<AsyncComputeClient>(
      AsyncComputeOptions::FromSpec(spec, kind, job), metrics);
  AsyncComputeSinkOptions options;
  options.output_topic = output_topic;
  return std::make_unique<AsyncComputeSink>(inner, std::move(client), clock, std::move(options));
}

}  // namespace usp
