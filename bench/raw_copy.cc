// copy: R1's reference. The least a job can do with the same client settings
// as the worker: consume every partition of --source from the beginning
// (manual assignment), produce each message's key and value unchanged to
// --target (murmur2 partitioner, as the worker keys its output), serve
// delivery reports, and commit the consumed offsets every 200 ms (the
// worker's commit interval).
// Runs until SIGTERM/SIGINT, then flushes.

#include <atomic>
#include <csignal>
#include <cstdio>
#include <vector>

#include "bench/kafka_tools.h"

namespace usp::bench {
namespace {

std::atomic<bool> g_stop{false};
int64_t g_delivery_errors = 0;

void OnSignal(int /*sig*/) { g_stop = true; }

void OnDelivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* m, void* /*opaque*/) {
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR && g_delivery_errors++ == 0) {
    std::fprintf(stderr, "copy: delivery failed: %s\n", rd_kafka_err2str(m->err));
  }
}

void InstallDeliveryCallback(rd_kafka_conf_t* conf) {
  rd_kafka_conf_set_dr_msg_cb(conf, OnDelivery);
}

}  // namespace

int RawCopy(const Flags& flags) {
  const std::string bootstrap = flags.Str("bootstrap");
  const std::string source = flags.Str("source");
  const std::string target = flags.Str("target");
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);

  rd_kafka_t* consumer =
      NewClient(RD_KAFKA_CONSUMER, ConsumerProperties(bootstrap, flags.Str("group", "raw-copy")));
  rd_kafka_poll_set_consumer(consumer);
  rd_kafka_t* producer =
      NewClient(RD_KAFKA_PRODUCER, ProducerProperties(bootstrap), InstallDeliveryCallback);
  rd_kafka_topic_t* out = rd_kafka_topic_new(producer, target.c_str(), nullptr);

  auto partitions = PartitionCount(consumer, source);
  if (!partitions.ok()) {
    std::fprintf(stderr, "copy: %s\n", partitions.status().message().c_str());
    return 1;
  }
  rd_kafka_topic_partition_list_t* assignment = rd_kafka_topic_partition_list_new(*partitions);
  for (int32_t p = 0; p < *partitions; ++p) {
    rd_kafka_topic_partition_list_add(assignment, source.c_str(), p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  }
  if (rd_kafka_assign(consumer, assignment) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::fprintf(stderr, "copy: assign failed\n");
    return 1;
  }

  std::vector<int64_t> next_offsets(*partitions, -1);
  int64_t copied = 0;
  double last_commit = MonotonicSeconds();
  while (!g_stop.load()) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer, 100);
    if (m != nullptr) {
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (;;) {
          int rc = rd_kafka_produce(out, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, m->payload,
                                    m->len, m->key, m->key_len, nullptr);
          if (rc == 0) break;
          if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            std::fprintf(stderr, "copy: produce: %s\n", rd_kafka_err2str(rd_kafka_last_error()));
            return 1;
          }
          rd_kafka_poll(producer, 10);
        }
        next_offsets[m->partition] = m->offset + 1;
        ++copied;
      }
      rd_kafka_message_destroy(m);
    }
    rd_kafka_poll(producer, 0);
    if (MonotonicSeconds() - last_commit >= 0.2) {
      last_commit = MonotonicSeconds();
      rd_kafka_topic_partition_list_t* offsets = rd_kafka_topic_partition_list_new(*partitions);
      for (int32_t p = 0; p < *partitions; ++p) {
        if (next_offsets[p] >= 0) {
          rd_kafka_topic_partition_list_add(offsets, source.c_str(), p)->offset = next_offsets[p];
        }
      }
      if (offsets->cnt > 0) rd_kafka_commit(consumer, offsets, /*async=*/1);
      rd_kafka_topic_partition_list_destroy(offsets);
    }
  }
  rd_kafka_flush(producer, 10000);
  std::printf("{\"copied\":%lld,\"delivery_errors\":%lld}\n", static_cast<long long>(copied),
              static_cast<long long>(g_delivery_errors));
  rd_kafka_topic_partition_list_destroy(assignment);
  rd_kafka_topic_destroy(out);
  rd_kafka_consumer_close(consumer);
  rd_kafka_destroy(consumer);
  rd_kafka_destroy(producer);
  return g_delivery_errors == 0 ? 0 : 1;
}

}  // namespace usp::bench
