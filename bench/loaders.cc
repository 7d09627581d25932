// load-events and load-signals: fill topics before a measurement starts, and
// check that the broker kept every message (the mock cluster's log is bounded
// per partition: see bench/README.md).

// clang's -Wpedantic rejects librdkafka's RD_KAFKA_V_* argument type checks
// (GNU statement expressions); g++ builds keep them.
#if defined(__clang__) && !defined(LIBRDKAFKA_TYPECHECKS)
#define LIBRDKAFKA_TYPECHECKS 0
#endif
#include <cinttypes>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_events.h"
#include "bench/kafka_tools.h"
#include "core/resource_loader.h"
#include "core/signal_record.h"
#include "core/signal_transform.h"

namespace usp::bench {
namespace {

// librdkafka's mock cluster drops a partition's oldest message sets once the
// log passes 5 MiB (rdkafka_mock.c: mpart->max_size). Payload + key bytes
// above this per partition would not survive with the records' framing.
constexpr int64_t kMockPartitionPayloadLimit = 4500 * 1024;

struct Delivery {
  int64_t ok = 0;
  int64_t failed = 0;
  std::string first_error;
  std::vector<int64_t> partition_bytes;
};
Delivery g_delivery;  // the delivery callback runs on the producing thread

void OnDelivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* m, void* /*opaque*/) {
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (g_delivery.failed++ == 0) g_delivery.first_error = rd_kafka_err2str(m->err);
    return;
  }
  ++g_delivery.ok;
  if (m->partition >= 0) {
    if (g_delivery.partition_bytes.size() <= static_cast<size_t>(m->partition)) {
      g_delivery.partition_bytes.resize(m->partition + 1);
    }
    g_delivery.partition_bytes[m->partition] += static_cast<int64_t>(m->len + m->key_len);
  }
}

void InstallDeliveryCallback(rd_kafka_conf_t* conf) {
  rd_kafka_conf_set_dr_msg_cb(conf, OnDelivery);
}

rd_kafka_t* NewLoader(const std::string& bootstrap, const std::string& compression = "none") {
  Properties props = ProducerProperties(bootstrap);
  props.emplace_back("linger.ms", "20");  // later settings win
  props.emplace_back("compression.codec", compression);
  props.emplace_back("queue.buffering.max.messages", "500000");
  return NewClient(RD_KAFKA_PRODUCER, props, InstallDeliveryCallback);
}

void Produce(rd_kafka_t* rk, const std::string& topic, const std::string& key,
             const std::string& value) {
  for (;;) {
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(key.data(), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      std::fprintf(stderr, "produce to %s: %s\n", topic.c_str(), rd_kafka_err2str(err));
      std::exit(1);
    }
    rd_kafka_poll(rk, 10);
  }
}

// Flushes, then checks that the topic holds exactly `before + produced`
// messages from offset 0 in every partition. Prints the problem and returns
// false otherwise.
bool FlushAndVerify(rd_kafka_t* rk, const std::string& topic, int32_t partitions, int64_t before,
                    int64_t produced) {
  if (rd_kafka_flush(rk, 120000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::fprintf(stderr, "flush to %s timed out\n", topic.c_str());
    return false;
  }
  if (g_delivery.failed != 0) {
    std::fprintf(stderr, "%" PRId64 " messages to %s failed: %s\n", g_delivery.failed,
                 topic.c_str(), g_delivery.first_error.c_str());
    return false;
  }
  auto offsets = QueryOffsets(rk, topic, partitions);
  if (!offsets.ok()) {
    std::fprintf(stderr, "%s\n", offsets.status().message().c_str());
    return false;
  }
  if (offsets->Truncated()) {
    std::fprintf(stderr,
                 "the broker dropped old messages of %s (a partition's log no longer starts at "
                 "0): use more partitions or fewer messages\n",
                 topic.c_str());
    return false;
  }
  if (offsets->HighSum() != before + produced) {
    std::fprintf(stderr, "%s holds %" PRId64 " messages, expected %" PRId64 "\n", topic.c_str(),
                 offsets->HighSum(), before + produced);
    return false;
  }
  return true;
}

// "u<n>". (Built by appending: GCC 12 at -O3 raises a false -Wrestrict on
// "u" + std::to_string(n).)
std::string UserId(uint64_t n) {
  std::string id = "u";
  id += std::to_string(n);
  return id;
}

int64_t MaxPartitionBytes() {
  int64_t max = 0;
  for (int64_t b : g_delivery.partition_bytes) max = std::max(max, b);
  return max;
}

}  // namespace

int LoadEvents(const Flags& flags) {
  const std::string bootstrap = flags.Str("bootstrap");
  const std::string topic = flags.Str("topic");
  const int64_t events = flags.Int("events");
  const int64_t users = flags.Int("users", 100000);
  std::mt19937_64 rng(static_cast<uint64_t>(flags.Int("seed", 42)));
  // --shape search|booking [search]; event i has event time base + i * step.
  const std::string shape_name = flags.Str("shape", "search");
  if (shape_name != "search" && shape_name != "booking") {
    std::fprintf(stderr, "--shape: search or booking, not %s\n", shape_name.c_str());
    return 2;
  }
  const EventShape shape = shape_name == "search" ? EventShape::kSearch : EventShape::kBooking;
  const int64_t step_ms = flags.Int("step-ms", 1);
  // --compression none|lz4|zstd|... [none]: the mock cluster bounds a
  // partition's log by stored (compressed) bytes, so a compressed load fits
  // more events in a partition (bench/curves). The payload check below then
  // does not apply; FlushAndVerify still proves nothing was dropped.
  const std::string compression = flags.Str("compression", "none");

  rd_kafka_t* rk = NewLoader(bootstrap, compression);
  auto partitions = PartitionCount(rk, topic);
  if (!partitions.ok()) {
    std::fprintf(stderr, "%s\n", partitions.status().message().c_str());
    return 1;
  }
  auto before = QueryOffsets(rk, topic, *partitions);
  if (!before.ok()) {
    std::fprintf(stderr, "%s\n", before.status().message().c_str());
    return 1;
  }
  const double start = MonotonicSeconds();
  const int64_t base_ms = flags.Int("base-ms", NowMs() - 3600 * 1000);
  int64_t bytes = 0;
  for (int64_t i = 0; i < events; ++i) {
    std::string user = UserId(rng() % static_cast<uint64_t>(users));
    std::string event =
        MakeEvent(shape, user, base_ms + i * step_ms, static_cast<uint64_t>(i), rng);
    bytes += static_cast<int64_t>(event.size());
    Produce(rk, topic, user, event);
    if (i % 1024 == 0) rd_kafka_poll(rk, 0);
  }
  bool ok = FlushAndVerify(rk, topic, *partitions, before->HighSum(), events);
  const double seconds = MonotonicSeconds() - start;
  rd_kafka_destroy(rk);
  if (!ok) return 1;
  if (compression == "none" && MaxPartitionBytes() > kMockPartitionPayloadLimit) {
    std::fprintf(stderr,
                 "a partition of %s holds %" PRId64
                 " bytes: too close to the mock "
                 "cluster's 5 MiB log limit\n",
                 topic.c_str(), MaxPartitionBytes());
    return 1;
  }
  std::printf("{\"topic\":\"%s\",\"events\":%" PRId64 ",\"partitions\":%d,\"bytes\":%" PRId64
              ",\"avg_event_bytes\":%.1f,\"max_partition_bytes\":%" PRId64 ",\"seconds\":%.3f}\n",
              topic.c_str(), events, *partitions, bytes,
              events > 0 ? static_cast<double>(bytes) / static_cast<double>(events) : 0.0,
              MaxPartitionBytes(), seconds);
  return 0;
}

int LoadSignals(const Flags& flags) {
  const std::string bootstrap = flags.Str("bootstrap");
  const int64_t users = flags.Int("users");
  const int64_t per_user = flags.Int("per-user");
  const int64_t end_ms = flags.Int("end-ms");
  const int64_t step_ms = flags.Int("step-ms");
  const std::string redis_prefix = flags.Str("redis-prefix", "sig:");
  std::mt19937_64 rng(static_cast<uint64_t>(flags.Int("seed", 42)));

  // The records are what the worker would write for this resource: each is
  // SignalTransform's output for a generated source event.
  auto resources = LoadResourcesFromPath(flags.Str("resource"));
  if (!resources.ok() || resources->empty() || !resources->front().user_signal) {
    std::fprintf(stderr, "--resource must hold one valid UserSignal\n");
    return 2;
  }
  const UserSignal& signal = *resources->front().user_signal;
  const std::string source_topic = signal.SourceTopics().front();
  const std::string topic = signal.spec.output_topic;
  auto transform = SignalTransform::Create(signal);
  if (!transform.ok()) {
    std::fprintf(stderr, "%s\n", transform.status().message().c_str());
    return 2;
  }

  FILE* redis = std::fopen(flags.Str("redis-out").c_str(), "wb");
  if (redis == nullptr) {
    std::perror("--redis-out");
    return 2;
  }
  rd_kafka_t* rk = NewLoader(bootstrap);
  auto partitions = PartitionCount(rk, topic);
  if (!partitions.ok()) {
    std::fprintf(stderr, "%s\n", partitions.status().message().c_str());
    return 1;
  }
  auto before = QueryOffsets(rk, topic, *partitions);
  if (!before.ok()) {
    std::fprintf(stderr, "%s\n", before.status().message().c_str());
    return 1;
  }

  const double start = MonotonicSeconds();
  const int64_t version = NowMs();
  SignalRecord record;
  TransformError error;
  int64_t bytes = 0;
  uint64_t sequence = 0;
  // Oldest first across all users, as a live stream would deliver them.
  for (int64_t k = 0; k < per_user; ++k) {
    const int64_t time_ms = end_ms - (per_user - 1 - k) * step_ms;
    for (int64_t u = 0; u < users; ++u) {
      std::string user = UserId(static_cast<uint64_t>(u));
      std::string event = MakeEvent(EventShape::kSearch, user, time_ms, sequence, rng);
      SourceEvent source{source_topic, 0, static_cast<int64_t>(sequence), event};
      ++sequence;
      if ((*transform)->Apply(source, version, &record, &error) != TransformOutcome::kEmitted) {
        std::fprintf(stderr, "transform: %s\n", error.message.c_str());
        return 1;
      }
      std::string json = SerializeSignalRecord(record);
      bytes += static_cast<int64_t>(json.size());
      Produce(rk, topic, user, json);
      if (sequence % 1024 == 0) rd_kafka_poll(rk, 0);

      char key[64];
      int key_len = std::snprintf(key, sizeof(key), "%s%012" PRId64, redis_prefix.c_str(), u);
      std::string score = std::to_string(time_ms);
      std::fprintf(redis, "*4\r\n$4\r\nZADD\r\n$%d\r\n%s\r\n$%zu\r\n%s\r\n$%zu\r\n", key_len, key,
                   score.size(), score.c_str(), json.size());
      std::fwrite(json.data(), 1, json.size(), redis);
      std::fputs("\r\n", redis);
    }
  }
  const int64_t records = users * per_user;
  bool ok = FlushAndVerify(rk, topic, *partitions, before->HighSum(), records);
  const double seconds = MonotonicSeconds() - start;
  rd_kafka_destroy(rk);
  if (std::fclose(redis) != 0) {
    std::perror("--redis-out");
    return 1;
  }
  if (!ok) return 1;
  if (MaxPartitionBytes() > kMockPartitionPayloadLimit) {
    std::fprintf(stderr,
                 "a partition of %s holds %" PRId64
                 " bytes: too close to the mock "
                 "cluster's 5 MiB log limit\n",
                 topic.c_str(), MaxPartitionBytes());
    return 1;
  }
  std::printf("{\"topic\":\"%s\",\"signal\":\"%s\",\"records\":%" PRId64
              ",\"partitions\":%d,\"avg_record_bytes\":%.1f,\"max_partition_bytes\":%" PRId64
              ",\"first_event_ms\":%" PRId64 ",\"last_event_ms\":%" PRId64 ",\"seconds\":%.3f}\n",
              topic.c_str(), signal.metadata.name.c_str(), records, *partitions,
              records > 0 ? static_cast<double>(bytes) / static_cast<double>(records) : 0.0,
              MaxPartitionBytes(), end_ms - (per_user - 1) * step_ms, end_ms, seconds);
  return 0;
}

}  // namespace usp::bench
