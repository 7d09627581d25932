#include "runtime/join/repartitioner.h"

#include <gtest/gtest.h>

#include "core/murmur2.h"
#include "runtime/worker/worker_test_fakes.h"

namespace usp {
namespace {

using testing::FakeClock;
using testing::FakeRecordSink;
using testing::FakeSourceReader;

constexpr char kSource[] = "search-events";
constexpr char kTarget[] = "usp.repartition.booked-searches.left";

class RepartitionerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_.partition_counts[kSource] = 2;
    sink_.partition_counts[kTarget] = 8;
  }
  void Make(std::vector<int32_t> partitions) {
    RepartitionerOptions o;
    o.partitions = std::move(partitions);
    o.commit_interval_ms = 0;
    r_ = std::make_unique<Repartitioner>(
        RepartitionStep{kSource, kTarget, *JsonPointer::Parse("/search_id")}, &source_, &sink_,
        &clock_, o);
    ASSERT_TRUE(r_->Start().ok());
  }
  FakeSourceReader source_;
  FakeRecordSink sink_;
  FakeClock clock_;
  std::unique_ptr<Repartitioner> r_;
};

TEST_F(RepartitionerTest, WritesEachRecordKeyedByJoinKeyWithMurmur2) {
  Make({1});
  source_.Add(kSource, 1, 0, R"({"search_id":"s1","user_id":"u1"})", 123);
  source_.Add(kSource, 1, 1, R"({"search_id":42})");
  source_.Add(kSource, 1, 2, R"({"user_id":"no key"})");
  ASSERT_TRUE(r_->RunOnce().ok());
  ASSERT_EQ(sink_.sent.size(), 3u);
  EXPECT_EQ(sink_.sent[0].topic, kTarget);
  EXPECT_EQ(sink_.sent[0].key, "s1");
  EXPECT_EQ(sink_.sent[0].partition, PartitionForKey("s1", 8));
  EXPECT_EQ(sink_.sent[0].value, R"({"search_id":"s1","user_id":"u1"})");
  EXPECT_EQ(sink_.sent[0].timestamp_ms, 123);
  EXPECT_EQ(sink_.sent[1].key, "42");
  EXPECT_EQ(sink_.sent[1].partition, PartitionForKey("42", 8));
  EXPECT_EQ(sink_.sent[2].key, "");  // forwarded: the join dead-letters it
  EXPECT_EQ(sink_.sent[2].partition, 1);
  EXPECT_EQ(r_->keyless(), 1);
  EXPECT_EQ(r_->forwarded(), 3);
  EXPECT_EQ(source_.CommittedOffset(kSource, 1), 3);
}

TEST_F(RepartitionerTest, CommitsOnlyAcknowledgedOffsets) {
  Make({0});
  sink_.auto_ack = false;
  source_.Add(kSource, 0, 5, R"({"search_id":"a"})");
  source_.Add(kSource, 0, 6, R"({"search_id":"b"})");
  ASSERT_TRUE(r_->RunOnce().ok());
  EXPECT_EQ(source_.CommittedOffset(kSource, 0), kOffsetInvalid);
  sink_.Report(1);  // offset 6 first: 5 still in flight
  ASSERT_TRUE(r_->RunOnce().ok());
  EXPECT_EQ(source_.CommittedOffset(kSource, 0), kOffsetInvalid);
  sink_.Report(0);
  ASSERT_TRUE(r_->RunOnce().ok());
  EXPECT_EQ(source_.CommittedOffset(kSource, 0), 7);
}

TEST_F(RepartitionerTest, AFailedDeliveryStopsItAndIsNeverCommitted) {
  Make({0});
  sink_.auto_ack = false;
  source_.Add(kSource, 0, 0, R"({"search_id":"a"})");
  ASSERT_TRUE(r_->RunOnce().ok());
  sink_.Report(0, Status::Unavailable("broker down"));
  EXPECT_FALSE(r_->RunOnce().ok());
  EXPECT_EQ(source_.CommittedOffset(kSource, 0), kOffsetInvalid);
}

TEST_F(RepartitionerTest, ResumesFromCommittedOffsetsAndReassigns) {
  source_.committed[{kSource, 0}] = 10;
  Make({0});
  ASSERT_EQ(source_.assigned.size(), 1u);
  EXPECT_EQ(source_.assigned[0].offset, 10);
  ASSERT_TRUE(r_->Reassign({0, 1}).ok());
  EXPECT_EQ(source_.assigned.size(), 2u);
  source_.Add(kSource, 0, 10, R"({"search_id":"a"})");
  source_.Add(kSource, 1, 0, R"({"search_id":"b"})");
  ASSERT_TRUE(r_->RunOnce().ok());
  EXPECT_EQ(sink_.sent.size(), 2u);
  EXPECT_EQ(source_.CommittedOffset(kSource, 0), 11);
  EXPECT_EQ(source_.CommittedOffset(kSource, 1), 1);
}

TEST_F(RepartitionerTest, RejectsUnknownPartitionsAndTopics) {
  RepartitionerOptions o;
  o.partitions = {5};
  Repartitioner bad(RepartitionStep{kSource, kTarget, *JsonPointer::Parse("/k")}, &source_, &sink_,
                    &clock_, o);
  EXPECT_FALSE(bad.Start().ok());
  Repartitioner missing(RepartitionStep{kSource, "nope", *JsonPointer::Parse("/k")}, &source_,
                        &sink_, &clock_, RepartitionerOptions{});
  EXPECT_FALSE(missing.Start().ok());
}

}  // namespace
}  // namespace usp
