#pragma once
// USP's Kafka client: a thin, Status-returning wrapper over the librdkafka C
// API with exactly the semantics the data plane needs.
//
// KafkaConsumer: MANUAL partition assignment (no subscribe, no rebalancing).
// The group id is used only to store committed offsets; nothing is committed
// automatically (enable.auto.commit=false, enable.auto.offset.store=false).
// Each partition starts at an explicit offset or at the group's committed
// offset (earliest when there is none).
//
// KafkaProducer: explicit partition per message, delivery reports with a
// per-message opaque, served on the thread that calls Poll()/Flush().
//
// Both take `properties` that are passed through to librdkafka as-is
// (SASL/TLS, tuning); they are applied after USP's defaults, so they win.
// Neither class is thread-safe: use each from one thread (the worker loop).
// librdkafka types never appear in this header.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

// librdkafka's opaque handles (rd_kafka_t, rd_kafka_message_t).
struct rd_kafka_s;
struct rd_kafka_message_s;
struct rd_kafka_topic_s;
struct rd_kafka_topic_partition_list_s;

namespace usp {

// librdkafka configuration properties ("security.protocol" -> "SASL_SSL").
using KafkaProperties = std::map<std::string, std::string>;

// Logical offsets (librdkafka's values).
inline constexpr int64_t kOffsetBeginning = -2;     // earliest available
inline constexpr int64_t kOffsetEnd = -1;           // next message produced
inline constexpr int64_t kOffsetCommitted = -1000;  // group's committed offset, earliest if none
inline constexpr int64_t kOffsetInvalid = -1001;    // "none" (e.g. nothing committed)

// Lets a partition be given to Produce() without a number: librdkafka's
// partitioner (murmur2_random, Java-compatible) chooses from the key.
inline constexpr int32_t kAnyPartition = -1;

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  auto operator<=>(const TopicPartition&) const = default;
};

struct TopicPartitionOffset {
  std::string topic;
  int32_t partition = 0;
  // An absolute offset >= 0, or one of kOffset* above. For commits this is
  // the NEXT offset to consume (one past the last processed message).
  int64_t offset = kOffsetInvalid;
  bool operator==(const TopicPartitionOffset&) const = default;
};

struct Watermarks {
  int64_t low = kOffsetInvalid;   // oldest available offset
  int64_t high = kOffsetInvalid;  // end offset: one past the newest message
};

// A consumed message. A VIEW: every string_view points into librdkafka's
// buffers and is valid until the next Poll()/Assign() on the consumer that
// returned it, or its destruction.
struct ConsumedMessage {
  std::string_view topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string_view key;       // empty when the message has no key
  std::string_view payload;   // empty when the value is null
  int64_t timestamp_ms = -1;  // Kafka message timestamp (create or log-append), -1 if none
};

struct ConsumerOptions {
  std::string bootstrap;  // "host:port[,host:port]" -> bootstrap.servers
  std::string group_id;   // REQUIRED: offsets are committed under it
  std::string client_id = "usp";
  // Where a partition assigned with kOffsetCommitted starts when the group
  // has no committed offset, or when an offset is out of range.
  std::string auto_offset_reset = "earliest";
  KafkaProperties properties;  // passthrough, applied last
};

class KafkaConsumer {
 public:
  // Creates the handle; does not contact the brokers (errors here are
  // configuration errors: InvalidArgument).
  static Result<std::unique_ptr<KafkaConsumer>> Create(const ConsumerOptions& options);
  // Closes the consumer without committing anything.
  ~KafkaConsumer();
  KafkaConsumer(const KafkaConsumer&) = delete;
  KafkaConsumer& operator=(const KafkaConsumer&) = delete;

  // Replaces the whole assignment. Each partition starts at its `offset`:
  // absolute, kOffsetBeginning, kOffsetEnd or kOffsetCommitted. An empty list
  // unassigns everything. Invalidates the views of the last Poll().
  Status Assign(const std::vector<TopicPartitionOffset>& partitions);
  const std::vector<TopicPartition>& assignment() const { return assignment_; }

  // Fetches up to `max_messages`, waiting at most `timeout_ms` for the first
  // one, then taking whatever else is already buffered. `out` is cleared
  // first. Invalidates the views of the previous call. Transient broker or
  // partition errors are logged and skipped (librdkafka retries them); a
  // fatal client error is returned (Internal).
  Status Poll(int max_messages, int timeout_ms, std::vector<ConsumedMessage>* out);

  // Commits `offsets` (each the NEXT offset to consume) under the group id.
  // Blocks until the broker answers. Unavailable on timeouts/transport errors.
  Status CommitSync(const std::vector<TopicPartitionOffset>& offsets);
  // Enqueues a commit and returns. Its result is served by a later Poll();
  // the first failure since the last call is returned by
  // TakeAsyncCommitError() (and logged).
  Status CommitAsync(const std::vector<TopicPartitionOffset>& offsets);
  Status TakeAsyncCommitError();
  // The offset the broker last acknowledged as committed for a partition
  // since the last Assign() (CommitSync's success, or an asynchronous
  // commit's report served by Poll); kOffsetInvalid when none. What
  // CommitAsync sent is not committed until then: a process killed before
  // the report may have lost it.
  int64_t AcknowledgedCommit(const std::string& topic, int32_t partition) const;

  // The group's committed offsets for `partitions` (kOffsetInvalid when
  // nothing is committed). Asks the group coordinator.
  Result<std::vector<TopicPartitionOffset>> Committed(const std::vector<TopicPartition>& partitions,
                                                      int timeout_ms);

  // Asks the partition leader for the current watermarks.
  Result<Watermarks> QueryWatermarks(const std::string& topic, int32_t partition, int timeout_ms);
  // The watermarks last seen in fetch responses (no network; high is updated
  // with every fetched batch). kOffsetInvalid fields when not known yet.
  Watermarks CachedWatermarks(const std::string& topic, int32_t partition);
  // high watermark - `next_offset` (>= 0), from the cached watermarks; -1
  // when the high watermark is not known yet.
  int64_t Lag(const std::string& topic, int32_t partition, int64_t next_offset);

  // Number of partitions of `topic` from broker metadata. NotFound when the
  // topic does not exist (note: the embedded broker auto-creates any topic a
  // metadata request names, so there it never is NotFound).
  Result<int32_t> PartitionCount(const std::string& topic, int timeout_ms);

 private:
  KafkaConsumer() = default;
  void ReleaseMessages();

  rd_kafka_s* handle_ = nullptr;
  std::vector<TopicPartition> assignment_;
  std::vector<rd_kafka_message_s*> held_;  // messages behind the last Poll()'s views
  Status async_commit_error_;
  void Acknowledge(const rd_kafka_topic_partition_list_s* offsets);
  mutable std::mutex acknowledged_mutex_;
  std::map<std::pair<std::string, int32_t>, int64_t> acknowledged_;  // GUARDED_BY(acknowledged_mutex_)
  friend struct KafkaConsumerCallbacks;
};

// The outcome of one produced message, passed to the DeliveryCallback.
struct DeliveryReport {
  uint64_t opaque = 0;  // as given to Produce()
  Status status;        // Ok: acknowledged by the broker (per `acks`)
  std::string_view topic;
  int32_t partition = 0;
  int64_t offset = kOffsetInvalid;  // the message's offset when known
};

// Called from Poll()/Flush() on the caller's thread, once per produced message.
using DeliveryCallback = std::function<void(const DeliveryReport& report)>;

struct ProducerOptions {
  std::string bootstrap;  // -> bootstrap.servers
  std::string client_id = "usp";
  std::string acks = "all";        // -> acks
  int linger_ms = 5;               // -> linger.ms: wait to fill batches
  int batch_num_messages = 10000;  // -> batch.num.messages
  int batch_size_bytes = 1000000;  // -> batch.size
  // -> message.timeout.ms: how long librdkafka retries one message before
  // reporting a delivery failure.
  int message_timeout_ms = 30000;
  std::string compression = "none";  // -> compression.codec
  KafkaProperties properties;        // passthrough, applied last
};

class KafkaProducer {
 public:
  // `on_delivery` may be null (reports are then dropped).
  static Result<std::unique_ptr<KafkaProducer>> Create(const ProducerOptions& options,
                                                       DeliveryCallback on_delivery);
  // Waits up to 5 s for outstanding messages (their reports are delivered),
  // then destroys the handle. Call Flush() first to know the outcome.
  ~KafkaProducer();
  KafkaProducer(const KafkaProducer&) = delete;
  KafkaProducer& operator=(const KafkaProducer&) = delete;

  // Enqueues one message (key and value are copied). `partition` >= 0, or
  // kAnyPartition. `timestamp_ms` 0 means now. `opaque` comes back in the
  // delivery report. Errors: Unavailable when the local queue is full (call
  // Poll() and retry), NotFound for an unknown topic/partition, Internal on a
  // fatal client error. Exactly one report follows every Ok return.
  Status Produce(std::string_view topic, int32_t partition, std::string_view key,
                 std::string_view value, int64_t timestamp_ms, uint64_t opaque);

  // Serves delivery reports (and client events), waiting at most
  // `timeout_ms` for the first. Returns how many events were served.
  int Poll(int timeout_ms);
  // Waits until every enqueued message has a delivery report (served on this
  // thread). Unavailable when `timeout_ms` expires first.
  Status Flush(int timeout_ms);
  // Messages enqueued but not yet reported.
  int OutstandingMessages() const;

  // Number of partitions of `topic` from broker metadata. NotFound when the
  // topic does not exist.
  Result<int32_t> PartitionCount(const std::string& topic, int timeout_ms);

 private:
  KafkaProducer() = default;
  rd_kafka_topic_s* TopicHandle(std::string_view topic);

  rd_kafka_s* handle_ = nullptr;
  DeliveryCallback on_delivery_;
  std::vector<std::pair<std::string, rd_kafka_topic_s*>> topics_;  // cached handles
  friend struct KafkaProducerCallbacks;
};

}  // namespace usp
