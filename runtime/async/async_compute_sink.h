#pragma once
// AsyncComputeSink: the RecordSink decorator that adds a SessionJob's
// asyncCompute to any worker loop without touching it.
//
//  - Send() forwards every record unchanged to the inner sink (same topic,
//    partition, key, value, timestamp, opaque). When the inner sink accepted
//    it and it is a session record on the job's output topic (not a
//    tombstone, no "async_result" yet), its JSON is submitted to the
//    AsyncComputeClient. Send() never waits for the service.
//  - Poll()/Flush() (owner's loop thread) collect the answers and send, to
//    the same topic, partition and key, a NEWER VERSION of the record:
//    the same fields plus "async_result": <answer>, with
//    version = max(now_ms, original version + 1). The query service keeps
//    the newest version, so it serves the enriched row.
//  - Failures (after the last retry; or no slot: overflow): with
//    write_failures (the default) a newer version with
//    "async_result": {"error": "<why>", "reason": "error|timeout|overflow"}
//    is sent, so a reader can tell "failed" from "not answered yet"; without
//    it the row stays as it was. Either way the failure is counted in
//    usp_async_compute_requests_total{result}.
//  - Superseded answers: when a newer version of the same window
//    (user_id, job, window_start, window_end) was submitted (a late event
//    re-emitted it), the older version's answer is dropped, so a stale
//    enrichment never overrides newer aggregations.
//  - Delivery accounting: the decorator's own records carry opaque values
//    with kAsyncComputeOpaqueBit set, and their delivery reports are
//    filtered OUT of the owner's DeliveryCallback (the decorator installs its
//    own callback on the inner sink and forwards every other report). The
//    owner never sees them, so neither its ticket accounting nor its
//    "record not delivered" fatal path is affected by an enrichment. The
//    owner's opaques must not have bit 63 set (tickets count up from 1).
//  - When the inner sink's queue is full, enriched records wait in the
//    decorator (bounded by max_unsent) and are retried on the next Poll().
//  - Enrichment is best effort with respect to offsets: a source offset is
//    committed once the original record is acknowledged, not its enriched
//    version; answers still outstanding when the worker stops or loses the
//    partition are lost (the row stays without async_result).
//
// Thread-compatible: every method on the owner's loop thread.

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "core/session/session_job.h"
#include "core/session/session_record.h"
#include "runtime/async/async_compute_client.h"
#include "runtime/common/metrics.h"
#include "runtime/worker/worker_io.h"

namespace usp {

// Set in the opaque of every record the decorator sends itself.
inline constexpr uint64_t kAsyncComputeOpaqueBit = uint64_t{1} << 63;

struct AsyncComputeSinkOptions {
  std::string output_topic;  // records on this topic are submitted
  bool write_failures = true;
  int max_flush_wait_ms = 5000;  // Flush() waits at most this long for answers
  size_t max_unsent = 10000;     // enriched records waiting for room in the inner sink
};

struct AsyncComputeSinkStats {
  int64_t submitted = 0;      // records submitted to the client
  int64_t overflowed = 0;     // records the client had no room for
  int64_t skipped = 0;        // output-topic records not submitted (not a session record, ...)
  int64_t enriched = 0;       // answers sent as newer versions
  int64_t failures_written = 0;  // error variants sent
  int64_t superseded = 0;     // answers dropped: a newer version of the window was submitted
  int64_t dropped = 0;        // enriched records not sent (inner sink error or max_unsent)
  int64_t delivered = 0;      // own records acknowledged
  int64_t delivery_failed = 0;  // own records not delivered
};

class AsyncComputeSink : public RecordSink {
 public:
  // `inner` and `clock` must outlive the sink; `clock` null = system clock.
  // Installs its own delivery callback on `inner`; the destructor stops the
  // client and gives `inner` the owner's callback back.
  AsyncComputeSink(RecordSink* inner, std::unique_ptr<AsyncComputeClient> client, Clock* clock,
                   AsyncComputeSinkOptions options);
  ~AsyncComputeSink() override;
  AsyncComputeSink(const AsyncComputeSink&) = delete;
  AsyncComputeSink& operator=(const AsyncComputeSink&) = delete;

  Result<int32_t> PartitionCount(const std::string& topic) override;
  void SetDeliveryCallback(DeliveryCallback callback) override;
  Status Send(std::string_view topic, int32_t partition, std::string_view key,
              std::string_view value, int64_t timestamp_ms, uint64_t opaque) override;
  // Sends the answers that arrived, then polls the inner sink.
  void Poll(int timeout_ms) override;
  // Waits up to min(timeout_ms, max_flush_wait_ms) for outstanding answers
  // and sends them, then flushes the inner sink in what is left of
  // timeout_ms.
  Status Flush(int timeout_ms) override;

  const AsyncComputeSinkStats& stats() const { return stats_; }
  AsyncComputeClient& client() { return *client_; }
  // Answers outstanding in the client plus enriched records not yet sent.
  size_t pending() const;

 private:
  using WindowId = std::tuple<std::string, std::string, int64_t, int64_t>;  // user, job, start, end
  struct Submitted {
    std::string topic;
    int32_t partition;
    std::string key;
    SessionRecord record;
  };
  struct Unsent {
    std::string topic;
    int32_t partition;
    std::string key;
    std::string value;
    int64_t timestamp_ms;
  };
  struct WindowState {
    int64_t latest_version = 0;
    int outstanding = 0;
  };

  void Submit(std::string_view topic, int32_t partition, std::string_view key,
              std::string_view value);
  // Sends unsent records, then turns polled answers into records and sends.
  void Pump();
  bool SendUnsent();  // false while the inner queue is full
  void Enqueue(const Submitted& s, std::string async_result_json);
  void OnInnerDelivery(const DeliveryReport& report);
  int64_t NowMs();

  RecordSink* inner_;
  std::unique_ptr<AsyncComputeClient> client_;
  Clock* clock_;
  AsyncComputeSinkOptions options_;
  DeliveryCallback owner_callback_;
  std::map<uint64_t, Submitted> submitted_;  // client id -> the record
  std::map<WindowId, WindowState> windows_;  // windows with answers outstanding
  std::deque<Unsent> unsent_;
  std::vector<AsyncComputeResult> results_;
  uint64_t next_opaque_ = 1;
  AsyncComputeSinkStats stats_;
};

// The sink for a SessionJob with `spec` (asyncCompute), its client included.
// `metrics` may be null; `clock` null = system clock.
std::unique_ptr<AsyncComputeSink> MakeAsyncComputeSink(RecordSink* inner, const std::string& kind,
                                                       const std::string& job,
                                                       const std::string& output_topic,
                                                       const AsyncComputeSpec& spec,
                                                       MetricsRegistry* metrics, Clock* clock);

}  // namespace usp
