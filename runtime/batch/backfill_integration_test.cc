// `usp-runtime backfill` against the embedded Kafka broker (librdkafka's
// mock cluster): a [from, to) range of the source topics as input, rows
// produced to the job's output topic and written to a store, checkpointed
// offsets.
#include <gtest/gtest.h>

#include <fstream>

#include "core/murmur2.h"
#include "runtime/batch/backfill.h"
#include "runtime/batch/batch_test_util.h"
#include "runtime/batch/batch_writer.h"
#include "runtime/batch/checkpoint.h"
#include "runtime/kafka/embedded_kafka.h"
#include "runtime/kafka/kafka_client.h"
#include "runtime/store/signal_store.h"

namespace usp {
namespace {

using namespace batch_testing;
namespace fs = std::filesystem;

TEST(BackfillOnKafka, ReadsTheTimeRangeAndProducesTheRowsToTheOutputTopic) {
  auto kafka = EmbeddedKafka::Start();
  ASSERT_TRUE(kafka.ok()) << kafka.status().ToString();
  const std::string boot = (*kafka)->bootstrap();
  for (const char* t : {"raw.search", "raw.booking"}) ASSERT_TRUE((*kafka)->CreateTopic(t, 2).ok());
  ASSERT_TRUE((*kafka)->CreateTopic("usp.segment.planner", kPartitions).ok());

  // The history, keyed by user, Kafka timestamp = event time.
  std::vector<Event> events = History();
  int failures = 0;
  ProducerOptions po;
  po.bootstrap = boot;
  auto producer =
      KafkaProducer::Create(po, [&](const DeliveryReport& r) { failures += !r.status.ok(); });
  ASSERT_TRUE(producer.ok());
  for (const Event& e : events) {
    const std::string key = "k" + std::to_string(e.record.offset % 3);
    ASSERT_TRUE(
        (*producer)
            ->Produce(e.record.topic, PartitionForKey(key, 2), key, e.record.payload, e.time, 0)
            .ok());
  }
  ASSERT_TRUE((*producer)->Flush(10000).ok());
  ASSERT_EQ(failures, 0);

  // [from, to): the first 90 minutes.
  const int64_t from = kT0 + 2 * kMinute;
  const int64_t to = kT0 + 90 * kMinute;
  std::vector<Event> in_range;
  for (const Event& e : events) {
    if (e.time >= from && e.time < to) in_range.push_back(e);
  }
  ASSERT_LT(in_range.size(), events.size());

  TempDir dir;
  std::ofstream(dir.path() / "resources.yaml") << kResourcesYaml;
  { ASSERT_TRUE(SignalStore::Open(dir.path() / "store", {kPartitions}).ok()); }
  BackfillOptions o;
  o.resources = (dir.path() / "resources.yaml").string();
  o.job = "planner";
  o.brokers = boot;
  o.from_ms = from;
  o.to_ms = to;
  o.to_topic = true;
  o.store_dir = (dir.path() / "store").string();
  o.checkpoint = (dir.path() / "ckpt.json").string();
  o.version = 2'000'000'000'000;
  auto run = RunBackfill(o);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->events, static_cast<int64_t>(in_range.size()));
  ASSERT_GT(run->rows, 3);
  EXPECT_EQ(run->written, run->rows);

  auto cp = ReadCheckpoint(o.checkpoint);
  ASSERT_TRUE(cp.ok() && cp->has_value());
  EXPECT_EQ((*cp)->ranges.size(), 4u) << "2 partitions of raw.search and raw.booking";
  EXPECT_TRUE((*cp)->complete);

  // The same range from a file gives the same rows.
  fs::path file = dir.path() / "range.jsonl";
  WriteKcatFile(file, in_range, /*gzip=*/false);
  { ASSERT_TRUE(SignalStore::Open(dir.path() / "from-file", {kPartitions}).ok()); }
  BackfillOptions f = o;
  f.brokers.clear();
  f.to_topic = false;
  f.inputs = {file.string()};
  f.store_dir = (dir.path() / "from-file").string();
  f.checkpoint.clear();
  auto from_file = RunBackfill(f);
  ASSERT_TRUE(from_file.ok()) << from_file.status().ToString();
  BatchRows a, b;
  {
    auto s1 = SignalStore::OpenReadOnly(dir.path() / "store");
    auto s2 = SignalStore::OpenReadOnly(dir.path() / "from-file");
    ASSERT_TRUE(s1.ok() && s2.ok());
    ASSERT_TRUE(LoadStoreRows(**s1, RowKind::kSegment, "planner", {}, &a).ok());
    ASSERT_TRUE(LoadStoreRows(**s2, RowKind::kSegment, "planner", {}, &b).ok());
  }
  EXPECT_EQ(a.segments, b.segments);

  // The output topic holds each row once, version and timestamp = --version.
  ConsumerOptions co;
  co.bootstrap = boot;
  co.group_id = "test-reader";
  auto consumer = KafkaConsumer::Create(co);
  ASSERT_TRUE(consumer.ok());
  std::vector<TopicPartitionOffset> all;
  for (int32_t p = 0; p < kPartitions; ++p)
    all.push_back({"usp.segment.planner", p, kOffsetBeginning});
  ASSERT_TRUE((*consumer)->Assign(all).ok());
  BatchRows produced;
  int64_t messages = 0;
  std::vector<ConsumedMessage> batch;
  for (int i = 0; i < 100 && messages < run->rows; ++i) {
    ASSERT_TRUE((*consumer)->Poll(100, 100, &batch).ok());
    for (const auto& m : batch) {
      ++messages;
      EXPECT_EQ(m.timestamp_ms, 2'000'000'000'000);
      EXPECT_EQ(m.partition, PartitionForKey(m.key, kPartitions));
      ASSERT_TRUE(produced.Add(RowKind::kSegment, m.payload).ok());
    }
  }
  EXPECT_EQ(messages, run->rows);
  EXPECT_EQ(produced.segments, a.segments);

  // A rerun with the complete checkpoint produces nothing more.
  auto again = RunBackfill(o);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->written, 0);
}

}  // namespace
}  // namespace usp
