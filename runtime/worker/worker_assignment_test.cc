// The control protocol: the epoch rule, applying an assignment on the loop
// (with fakes), and PUT /assignment + GET /status over the endpoints.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "runtime/worker/signal_worker.h"
#include "runtime/worker/worker_endpoints.h"
#include "runtime/worker/signal_worker.h"
#include "runtime/worker/worker_test_fakes.h"

namespace usp {
namespace {

using V = std::vector<int32_t>;

TEST(CheckAssignmentEpoch, FollowsTheEpochRules) {
  struct Case {
    int64_t current_epoch;
    V current;
    int64_t epoch;
    V wanted;
    AssignmentResult want;
  };
  const Case cases[] = {
      {3, {0, 1}, 2, {0, 1}, AssignmentResult::kStale},
      {3, {0, 1}, 0, {}, AssignmentResult::kStale},
      {3, {0, 1}, 3, {0, 1}, AssignmentResult::kUnchanged},
      {0, {}, 0, {}, AssignmentResult::kUnchanged},
      {3, {0, 1}, 3, {0}, AssignmentResult::kConflicting},
      {3, {0, 1}, 4, {0}, AssignmentResult::kApplied},
      {3, {0, 1}, 4, {0, 1}, AssignmentResult::kApplied},
      {0, {}, 1, {0, 1, 2, 3}, AssignmentResult::kApplied},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(CheckAssignmentEpoch(c.current_epoch, c.current, c.epoch, c.wanted), c.want)
        << c.current_epoch << " -> " << c.epoch;
  }
}

class AssignmentTest : public ::testing::Test {
 protected:
  AssignmentTest() : signal_(testing::MakeSignal("clicks", "clicks")) {
    source_.partition_counts["clicks"] = 4;
    sink_.partition_counts["usp.signal.clicks"] = 4;
    sink_.partition_counts["usp.dlq.clicks"] = 1;
  }

  void MakeWorker(SignalWorkerOptions options) {
    worker_ =
        std::make_unique<SignalWorker>(signal_, std::move(SignalTransform::Create(signal_)).value(),
                                       &source_, &sink_, &metrics_, &clock_, options);
    endpoints_.SetWorker(worker_.get());
  }
  static SignalWorkerOptions Standby() {
    SignalWorkerOptions o;
    o.all_partitions = false;
    return o;
  }
  static std::string Event(const std::string& user) {
    return nlohmann::json{{"user_id", user}, {"event_time", 1000}, {"type", "click"}}.dump();
  }

  HttpResponse Request(const std::string& method, const std::string& path,
                       const std::string& body = "") {
    HttpRequest request;
    request.method = method;
    request.path = path;
    request.body = body;
    return endpoints_.Handle(request);
  }

  // Runs the loop on its own thread while `f` runs (the handlers' view).
  template <typename F>
  void WithLoop(F f) {
    std::atomic<bool> stop{false};
    std::thread loop([&] {
      while (!stop.load()) {
        ASSERT_TRUE(worker_->RunOnce().ok());
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
    f();
    stop.store(true);
    loop.join();
  }

  UserSignal signal_;
  testing::FakeSourceReader source_;
  testing::FakeRecordSink sink_;
  testing::FakeClock clock_;
  MetricsRegistry registry_;
  WorkerMetrics metrics_{&registry_, "UserSignal", "clicks"};
  WorkerEndpoints endpoints_{"UserSignal", signal_.metadata.name, &registry_, &clock_, 2000};
  std::unique_ptr<SignalWorker> worker_;
};

TEST_F(AssignmentTest, StandbyTakesPartitionsFromTheCommittedOffsets) {
  MakeWorker(Standby());
  ASSERT_TRUE(worker_->Start().ok());
  EXPECT_TRUE(source_.assigned.empty());
  source_.committed[{"clicks", 1}] = 42;

  AssignmentOutcome out = worker_->ApplyAssignment(1, {3, 1});
  EXPECT_EQ(out.result, AssignmentResult::kApplied) << out.message;
  EXPECT_EQ(worker_->epoch(), 1);
  ASSERT_EQ(source_.assigned.size(), 2u);
  EXPECT_EQ(source_.assigned[0].partition, 1);
  EXPECT_EQ(source_.assigned[0].offset, 42);
  EXPECT_EQ(source_.assigned[1].partition, 3);
  EXPECT_EQ(source_.assigned[1].offset, kOffsetCommitted);  // none: group default
  WorkerSnapshot snap = worker_->Snapshot();
  EXPECT_EQ(snap.partitions, (V{1, 3}));
  EXPECT_EQ(snap.epoch, 1);
}

TEST_F(AssignmentTest, RemovedPartitionsAreDrainedAndCommittedFirst) {
  MakeWorker(SignalWorkerOptions{});
  ASSERT_TRUE(worker_->Start().ok());
  sink_.auto_ack = false;
  source_.Add("clicks", 0, 10, Event("u1"));
  source_.Add("clicks", 2, 20, Event("u2"));
  ASSERT_TRUE(worker_->RunOnce().ok());
  ASSERT_EQ(sink_.unacked.size(), 2u);

  sink_.auto_ack = true;  // the flush delivers the in-flight records
  AssignmentOutcome out = worker_->ApplyAssignment(1, {0, 1});
  EXPECT_EQ(out.result, AssignmentResult::kApplied) << out.message;
  EXPECT_EQ(source_.CommittedOffset("clicks", 2), 21);  // removed: committed past its output
  EXPECT_EQ(source_.CommittedOffset("clicks", 0), 11);
  ASSERT_EQ(source_.assigned.size(), 2u);
  EXPECT_EQ(source_.assigned[0].offset, 11);  // kept: resumes at its commit
  EXPECT_EQ(worker_->Snapshot().partitions, (V{0, 1}));

  // A message of a removed partition still in the consumer's buffer is ignored.
  source_.Add("clicks", 2, 21, Event("u3"));
  size_t sent = sink_.sent.size();
  ASSERT_TRUE(worker_->RunOnce().ok());
  EXPECT_EQ(sink_.sent.size(), sent);
}

TEST_F(AssignmentTest, OlderConflictingAndRepeatedEpochsFollowTheRules) {
  MakeWorker(Standby());
  ASSERT_TRUE(worker_->Start().ok());
  ASSERT_EQ(worker_->ApplyAssignment(2, {0}).result, AssignmentResult::kApplied);
  size_t commits = source_.commits.size();
  EXPECT_EQ(worker_->ApplyAssignment(2, {0}).result, AssignmentResult::kUnchanged);
  EXPECT_EQ(source_.commits.size(), commits);  // idempotent: nothing done
  AssignmentOutcome stale = worker_->ApplyAssignment(1, {0, 1});
  EXPECT_EQ(stale.result, AssignmentResult::kStale);
  EXPECT_EQ(stale.message, "epoch 1 is older than current 2");
  EXPECT_EQ(worker_->ApplyAssignment(2, {1}).result, AssignmentResult::kConflicting);
  EXPECT_EQ(worker_->ApplyAssignment(3, {4}).result, AssignmentResult::kInvalid);
  EXPECT_EQ(worker_->epoch(), 2);
  EXPECT_EQ(worker_->Snapshot().partitions, V{0});
}

TEST_F(AssignmentTest, PutAssignmentIsAppliedByTheLoopAndStatusShowsIt) {
  MakeWorker(Standby());
  ASSERT_TRUE(worker_->Start().ok());
  auto before = nlohmann::json::parse(Request("GET", "/status").body);
  EXPECT_EQ(before["role"], "standby");
  EXPECT_EQ(before["epoch"], 0);
  EXPECT_EQ(before["warm"], true);
  EXPECT_EQ(before["ready"], true);
  EXPECT_TRUE(before["partitions"].empty());
  source_.committed[{"clicks", 2}] = 7;

  WithLoop([&] {
    HttpResponse r = Request("PUT", "/assignment", R"({"epoch":1,"partitions":[0,2]})");
    ASSERT_EQ(r.status, 200) << r.body;
    auto status = nlohmann::json::parse(r.body);
    EXPECT_EQ(status["role"], "active");
    EXPECT_EQ(status["epoch"], 1);
    EXPECT_EQ(status["partitions"], nlohmann::json::parse("[0,2]"));
    EXPECT_EQ(status["committed"]["clicks"]["2"], 7);
    EXPECT_EQ(status["committed"]["clicks"]["0"], -1);
    EXPECT_TRUE(status.contains("lag"));

    EXPECT_EQ(Request("PUT", "/assignment", R"({"epoch":1,"partitions":[2,0]})").status, 200);
    HttpResponse stale = Request("PUT", "/assignment", R"({"epoch":0,"partitions":[0]})");
    EXPECT_EQ(stale.status, 409);
    auto err = nlohmann::json::parse(stale.body);
    EXPECT_EQ(err["error"]["code"], "stale_epoch");
    EXPECT_EQ(err["error"]["message"], "epoch 0 is older than current 1");
    HttpResponse conflict = Request("PUT", "/assignment", R"({"epoch":1,"partitions":[1]})");
    EXPECT_EQ(conflict.status, 409);
    EXPECT_EQ(nlohmann::json::parse(conflict.body)["error"]["code"], "conflicting_assignment");
  });
  std::string metrics = Request("GET", "/metrics").body;
  EXPECT_NE(metrics.find(R"(usp_assigned_partitions{job="clicks",kind="UserSignal"} 2)"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find(R"(usp_standby_warm{job="clicks",kind="UserSignal"} 1)"),
            std::string::npos);
}

TEST_F(AssignmentTest, BadAssignmentsAreRejectedNamingTheField) {
  MakeWorker(Standby());
  ASSERT_TRUE(worker_->Start().ok());
  auto error_of = [&](const std::string& body) {
    HttpResponse r = Request("PUT", "/assignment", body);
    EXPECT_EQ(r.status, 400) << body;
    return nlohmann::json::parse(r.body)["error"]["message"].get<std::string>();
  };
  EXPECT_EQ(error_of("{nope").rfind("body:", 0), 0u);
  EXPECT_EQ(error_of(R"({"partitions":[0]})").rfind("epoch:", 0), 0u);
  EXPECT_EQ(error_of(R"({"epoch":-1,"partitions":[0]})").rfind("epoch:", 0), 0u);
  EXPECT_EQ(error_of(R"({"epoch":1})").rfind("partitions:", 0), 0u);
  EXPECT_EQ(error_of(R"({"epoch":1,"partitions":[0,-2]})").rfind("partitions[1]:", 0), 0u);
  WithLoop(
      [&] { EXPECT_EQ(error_of(R"({"epoch":1,"partitions":[4]})").rfind("partitions:", 0), 0u); });
  EXPECT_EQ(worker_->epoch(), 0);
}

TEST_F(AssignmentTest, PutTimesOutWhenTheLoopIsNotRunning) {
  WorkerEndpoints quick{"UserSignal", signal_.metadata.name, &registry_, &clock_, 50};
  MakeWorker(Standby());
  quick.SetWorker(worker_.get());
  HttpRequest request{"PUT", "/assignment", {}, {}, R"({"epoch":1,"partitions":[0]})"};
  EXPECT_EQ(quick.Handle(request).status, 503);
}

}  // namespace
}  // namespace usp
