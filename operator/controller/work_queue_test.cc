#include "operator/controller/work_queue.h"

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace usp::op {
namespace {

using std::chrono::milliseconds;

TEST(WorkQueue, MergesAddsOfAQueuedKey) {
  WorkQueue q;
  q.Add("a");
  q.Add("b");
  q.Add("a");
  EXPECT_EQ(q.Len(), 2u);
  EXPECT_EQ(*q.Get(), "a");
  EXPECT_EQ(*q.Get(), "b");
}

TEST(WorkQueue, AKeyAddedWhileProcessingIsQueuedAgainOnlyAfterDone) {
  WorkQueue q;
  q.Add("a");
  auto key = q.Get();
  ASSERT_EQ(*key, "a");
  q.Add("a");
  q.Add("a");
  EXPECT_EQ(q.Len(), 0u);  // not handed out while in flight
  q.Done("a");
  EXPECT_EQ(q.Len(), 1u);  // the adds merged into one
  EXPECT_EQ(*q.Get(), "a");
  q.Done("a");
  EXPECT_EQ(q.Len(), 0u);
}

TEST(WorkQueue, NeverGivesOneKeyToTwoWorkersAtOnce) {
  WorkQueue q;
  std::atomic<int> in_flight{0};
  std::atomic<bool> overlap{false};
  std::atomic<int> processed{0};
  std::vector<std::thread> workers;
  for (int i = 0; i < 4; ++i) {
    workers.emplace_back([&] {
      while (auto key = q.Get()) {
        if (in_flight.fetch_add(1) != 0) overlap = true;
        std::this_thread::sleep_for(milliseconds(1));
        in_flight.fetch_sub(1);
        ++processed;
        q.Done(*key);
      }
    });
  }
  for (int i = 0; i < 200; ++i) {
    q.Add("same-key");
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  while (q.Len() > 0) std::this_thread::sleep_for(milliseconds(5));
  std::this_thread::sleep_for(milliseconds(20));
  q.ShutDown();
  for (auto& t : workers) t.join();
  EXPECT_FALSE(overlap);
  EXPECT_GT(processed.load(), 1);
  EXPECT_LT(processed.load(), 200);  // adds during processing were merged
}

TEST(WorkQueue, BacksOffPerKeyExponentiallyUpToTheCap) {
  WorkQueue q(WorkQueueOptions{milliseconds(10), milliseconds(50)});
  EXPECT_EQ(q.NextBackoff("a"), milliseconds(10));
  q.AddRateLimited("a");
  EXPECT_EQ(q.NextBackoff("a"), milliseconds(20));
  q.AddRateLimited("a");
  EXPECT_EQ(q.NextBackoff("a"), milliseconds(40));
  q.AddRateLimited("a");
  EXPECT_EQ(q.NextBackoff("a"), milliseconds(50));
  q.AddRateLimited("a");
  EXPECT_EQ(q.NextBackoff("a"), milliseconds(50));
  EXPECT_EQ(q.NumRequeues("a"), 4);
  EXPECT_EQ(q.NextBackoff("b"), milliseconds(10));  // per key
  q.Forget("a");
  EXPECT_EQ(q.NumRequeues("a"), 0);
  EXPECT_EQ(q.NextBackoff("a"), milliseconds(10));
}

TEST(WorkQueue, DelayedKeysAppearAfterTheirDelay) {
  WorkQueue q;
  auto start = std::chrono::steady_clock::now();
  q.AddAfter("later", milliseconds(60));
  q.AddAfter("later", milliseconds(10'000));  // the earliest request wins
  EXPECT_EQ(q.Len(), 0u);
  EXPECT_EQ(q.DelayedLen(), 1u);
  auto key = q.Get();
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(*key, "later");
  EXPECT_GE(waited, milliseconds(55));
  // Far below the later request's 10 s, so a loaded machine (a stalled
  // thread, a sanitizer build) cannot make it fail; the old 500 ms bound could.
  EXPECT_LT(waited, milliseconds(5'000));
}

// Several workers waiting on delayed keys while others promote them (the
// operator's controllers under retries): every key comes out exactly once.
// Under the sanitizer build this also catches a waiter reading a deadline
// another worker has erased.
TEST(WorkQueue, WorkersWaitingOnDelayedKeysWhileOthersPromoteThem) {
  WorkQueue q;
  constexpr int kKeys = 400;
  std::atomic<int> got{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      while (auto key = q.Get()) {
        ++got;
        q.Done(*key);
      }
    });
  }
  for (int i = 0; i < kKeys; ++i) {
    q.AddAfter("k" + std::to_string(i), milliseconds(1 + i % 3));
    if (i % 16 == 0) std::this_thread::sleep_for(milliseconds(1));
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (got.load() < kKeys && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  q.ShutDown();
  for (auto& t : workers) t.join();
  EXPECT_EQ(got.load(), kKeys);
}

TEST(WorkQueue, ShutDownWakesBlockedWorkers) {
  WorkQueue q;
  std::atomic<bool> woke{false};
  std::thread worker([&] {
    EXPECT_FALSE(q.Get().has_value());
    woke = true;
  });
  std::this_thread::sleep_for(milliseconds(20));
  q.ShutDown();
  worker.join();
  EXPECT_TRUE(woke);
  q.Add("ignored");
  EXPECT_EQ(q.Len(), 0u);
  EXPECT_TRUE(q.ShuttingDown());
}

}  // namespace
}  // namespace usp::op
