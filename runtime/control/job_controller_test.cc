#include "runtime/control/job_controller.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace usp {
namespace {

using Parts = std::vector<int32_t>;

// Workers as the control protocol sees them: the real epoch rule, no I/O.
class FakeWorkers : public WorkerClient {
 public:
  struct Worker {
    bool alive = true;
    bool warm = true;
    int64_t epoch = 0;
    Parts partitions;
    int64_t assigned_at_ms = 0;
    int64_t first_output_ms = 0;
  };

  Worker& Add(const std::string& url, bool warm = true) {
    std::lock_guard<std::mutex> lock(mutex_);
    Worker& w = workers_[url];
    w = Worker{};
    w.warm = warm;
    return w;
  }
  Worker& At(const std::string& url) {
    std::lock_guard<std::mutex> lock(mutex_);
    return workers_.at(url);
  }
  std::vector<std::string> Puts() {
    std::lock_guard<std::mutex> lock(mutex_);
    return puts_;
  }
  void ClearPuts() {
    std::lock_guard<std::mutex> lock(mutex_);
    puts_.clear();
  }
  int64_t now_ms = 1000;

  Result<WorkerStatus> GetStatus(const std::string& url, int) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = workers_.find(url);
    if (it == workers_.end() || !it->second.alive) {
      return Status::Unavailable("connect " + url + ": Connection refused");
    }
    return StatusOf(it->second);
  }

  Result<WorkerStatus> PutAssignment(const std::string& url, int64_t epoch, const Parts& partitions,
                                     int) override {
    std::lock_guard<std::mutex> lock(mutex_);
    puts_.push_back(url + "@" + std::to_string(epoch));
    auto it = workers_.find(url);
    if (it == workers_.end() || !it->second.alive) {
      return Status::Unavailable("connect " + url + ": Connection refused");
    }
    Worker& w = it->second;
    if (epoch < w.epoch) return Status::InvalidArgument("409 stale_epoch");
    if (epoch == w.epoch && partitions != w.partitions) {
      return Status::InvalidArgument("409 conflicting_assignment");
    }
    if (partitions != w.partitions) {
      w.assigned_at_ms = now_ms;
      w.first_output_ms = 0;
    }
    w.epoch = epoch;
    w.partitions = partitions;
    return StatusOf(w);
  }

 private:
  static WorkerStatus StatusOf(const Worker& w) {
    WorkerStatus s;
    s.role = w.partitions.empty() ? "standby" : "active";
    s.epoch = w.epoch;
    s.ready = true;
    s.warm = w.warm;
    s.partitions = w.partitions;
    s.assigned_at_ms = w.assigned_at_ms;
    s.first_output_ms = w.first_output_ms;
    return s;
  }

  std::mutex mutex_;
  std::map<std::string, Worker> workers_;
  std::vector<std::string> puts_;
};

class JobControllerTest : public ::testing::Test {
 protected:
  // w0, w1 actives and w2 the standby of an 8-partition job, parallelism 2.
  void StartThree(bool standby_warm = true) {
    fake_.Add("http://w0");
    fake_.Add("http://w1");
    fake_.Add("http://w2", standby_warm);
    controller_ = Make();
    controller_->UpsertWorker("w0", "http://w0");
    controller_->UpsertWorker("w1", "http://w1");
    controller_->UpsertWorker("w2", "http://w2");
    controller_->Step();
  }

  std::unique_ptr<JobController> Make() {
    JobControllerOptions o;
    o.job = "searches";
    o.num_partitions = 8;
    o.parallelism = 2;
    o.policy = {500, 2};
    auto c = std::make_unique<JobController>(o, &fake_, &metrics_, [this] { return fake_.now_ms; });
    c->OnFailover([this](const FailoverRecord& r) { callbacks_.push_back(r); });
    return c;
  }

  Parts Owned(const std::string& id) {
    auto snap = controller_->Snapshot();
    auto it = snap.assignment.active.find(id);
    return it == snap.assignment.active.end() ? Parts{} : it->second;
  }

  FakeWorkers fake_;
  MetricsRegistry metrics_;
  std::unique_ptr<JobController> controller_;
  std::vector<FailoverRecord> callbacks_;
};

TEST_F(JobControllerTest, InitialAssignmentGivesActivesTheirPartitionsAndTellsEveryWorker) {
  StartThree();
  EXPECT_EQ(Owned("w0"), (Parts{0, 1, 2, 3}));
  EXPECT_EQ(Owned("w1"), (Parts{4, 5, 6, 7}));
  EXPECT_EQ(fake_.At("http://w0").partitions, (Parts{0, 1, 2, 3}));
  EXPECT_EQ(fake_.At("http://w1").partitions, (Parts{4, 5, 6, 7}));
  EXPECT_EQ(fake_.At("http://w2").partitions, Parts{});
  EXPECT_EQ(fake_.At("http://w2").epoch, 1);  // the standby knows the epoch too
  auto snap = controller_->Snapshot();
  EXPECT_EQ(snap.assignment.standbys, std::vector<std::string>{"w2"});
  EXPECT_EQ(snap.failovers, 0);

  // Nothing changes: no more PUTs.
  fake_.ClearPuts();
  EXPECT_FALSE(controller_->Step());
  EXPECT_TRUE(fake_.Puts().empty());
}

TEST_F(JobControllerTest, InitialAssignmentWaitsForEnoughWarmWorkers) {
  fake_.Add("http://w0");
  fake_.Add("http://w1", /*warm=*/false);
  controller_ = Make();
  controller_->UpsertWorker("w0", "http://w0");
  controller_->UpsertWorker("w1", "http://w1");
  EXPECT_FALSE(controller_->Step());
  EXPECT_EQ(controller_->Snapshot().assignment.epoch, 0);
  fake_.At("http://w1").warm = true;
  EXPECT_TRUE(controller_->Step());
  EXPECT_EQ(Owned("w0").size() + Owned("w1").size(), 8u);
}

TEST_F(JobControllerTest, ReportedDeathMovesExactlyItsPartitionsToTheWarmStandby) {
  StartThree();
  fake_.At("http://w0").alive = false;
  fake_.now_ms = 5000;
  controller_->ReportFailure("w0", "process exited: killed by signal 9", 4990);
  fake_.now_ms = 5030;
  EXPECT_TRUE(controller_->Step());

  EXPECT_EQ(Owned("w2"), (Parts{0, 1, 2, 3}));
  EXPECT_EQ(Owned("w1"), (Parts{4, 5, 6, 7}));
  EXPECT_EQ(fake_.At("http://w2").partitions, (Parts{0, 1, 2, 3}));
  EXPECT_EQ(fake_.At("http://w1").partitions, (Parts{4, 5, 6, 7}));  // untouched

  auto snap = controller_->Snapshot();
  EXPECT_EQ(snap.failovers, 1);
  ASSERT_TRUE(snap.last_failover.has_value());
  const FailoverRecord& r = *snap.last_failover;
  EXPECT_EQ(r.worker, "w0");
  EXPECT_EQ(r.partitions, (Parts{0, 1, 2, 3}));
  EXPECT_EQ(r.promoted, std::vector<std::string>{"w2"});
  EXPECT_EQ(r.detection_ms(), 10);  // reported at 5000 for a death at 4990
  EXPECT_EQ(r.handover_ms(), 30);
  EXPECT_FALSE(r.waiting);
  ASSERT_EQ(callbacks_.size(), 1u);
  EXPECT_EQ(callbacks_[0].worker, "w0");

  const std::string text = metrics_.Serialize();
  EXPECT_NE(text.find("usp_failovers_total{job=\"searches\",kind=\"UserSignal\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("usp_failover_duration_seconds_count{job=\"searches\",kind=\"UserSignal\"} 1"),
            std::string::npos);
}

TEST_F(JobControllerTest, ProbeFailuresFailAWorkerOnlyAtTheThreshold) {
  StartThree();
  fake_.At("http://w1").alive = false;  // hung or partitioned: no report
  fake_.now_ms = 2000;
  controller_->Step();
  EXPECT_EQ(Owned("w1"), (Parts{4, 5, 6, 7})) << "one failed probe is below the threshold of 2";
  fake_.now_ms = 2500;
  EXPECT_TRUE(controller_->Step());
  EXPECT_EQ(Owned("w2"), (Parts{4, 5, 6, 7}));
  auto r = *controller_->Snapshot().last_failover;
  EXPECT_EQ(r.worker, "w1");
  EXPECT_EQ(r.failed_at_ms, 2000);  // the first failed probe
  EXPECT_EQ(r.detection_ms(), 500);
  EXPECT_NE(r.cause.find("2 probes failed"), std::string::npos) << r.cause;
}

TEST_F(JobControllerTest, WithoutAWarmStandbyThePartitionsWaitAndTheStatusSaysSo) {
  StartThree(/*standby_warm=*/false);
  fake_.At("http://w0").alive = false;
  controller_->ReportFailure("w0", "pod deleted", fake_.now_ms);
  controller_->Step();
  auto snap = controller_->Snapshot();
  EXPECT_EQ(snap.unassigned, (Parts{0, 1, 2, 3}));
  EXPECT_NE(snap.reason.find("waiting for a warm worker"), std::string::npos) << snap.reason;
  ASSERT_TRUE(snap.last_failover.has_value());
  EXPECT_TRUE(snap.last_failover->waiting);
  EXPECT_EQ(snap.failovers, 0);
  EXPECT_TRUE(callbacks_.empty());
  EXPECT_NE(snap.Table().find("WAITING: partitions 0-3"), std::string::npos) << snap.Table();
  EXPECT_EQ(fake_.At("http://w2").partitions, Parts{});

  fake_.At("http://w2").warm = true;
  fake_.now_ms += 700;
  controller_->Step();
  snap = controller_->Snapshot();
  EXPECT_TRUE(snap.unassigned.empty());
  EXPECT_EQ(fake_.At("http://w2").partitions, (Parts{0, 1, 2, 3}));
  EXPECT_EQ(snap.failovers, 1);
  EXPECT_FALSE(snap.last_failover->waiting);
  EXPECT_EQ(snap.last_failover->promoted, std::vector<std::string>{"w2"});
  EXPECT_EQ(snap.last_failover->handover_ms(), 700);
}

TEST_F(JobControllerTest, ARestartedWorkerComesBackAsStandbyWithoutItsOldPartitions) {
  StartThree();
  fake_.At("http://w0").alive = false;
  controller_->ReportFailure("w0", "process exited", fake_.now_ms);
  // The supervisor restarts it before the controller has stepped.
  fake_.Add("http://w0-restarted");
  controller_->UpsertWorker("w0", "http://w0-restarted");
  controller_->Step();
  EXPECT_EQ(Owned("w2"), (Parts{0, 1, 2, 3}));
  controller_->Step();  // probes the new incarnation
  EXPECT_EQ(Owned("w0"), Parts{});
  EXPECT_EQ(fake_.At("http://w0-restarted").partitions, Parts{});
  auto snap = controller_->Snapshot();
  EXPECT_EQ(snap.assignment.standbys, std::vector<std::string>{"w0"});
  EXPECT_EQ(fake_.At("http://w0-restarted").epoch, snap.assignment.epoch);
  EXPECT_EQ(snap.failovers, 1);
}

TEST_F(JobControllerTest, AWorkerThatWasOnlyUnreachableLosesItsPartitionsWhenItReturns) {
  StartThree();
  fake_.At("http://w0").alive = false;
  controller_->Step();
  controller_->Step();  // failed over to w2
  ASSERT_EQ(Owned("w2"), (Parts{0, 1, 2, 3}));
  fake_.At("http://w0").alive = true;  // still believes it owns 0-3 at epoch 1
  controller_->Step();
  EXPECT_EQ(fake_.At("http://w0").partitions, Parts{});
  EXPECT_EQ(fake_.At("http://w2").partitions, (Parts{0, 1, 2, 3}));
}

TEST_F(JobControllerTest, GracefulRemovalRevokesBeforeGranting) {
  StartThree();
  fake_.ClearPuts();
  controller_->ReportFailure("w0", "pod terminating", fake_.now_ms, /*revoke=*/true);
  controller_->Step();
  auto puts = fake_.Puts();
  auto pos = [&puts](const std::string& prefix) {
    for (size_t i = 0; i < puts.size(); ++i) {
      if (puts[i].rfind(prefix, 0) == 0) return static_cast<int>(i);
    }
    return -1;
  };
  ASSERT_GE(pos("http://w0@"), 0);
  ASSERT_GE(pos("http://w2@"), 0);
  EXPECT_LT(pos("http://w0@"), pos("http://w2@"));
  EXPECT_EQ(fake_.At("http://w0").partitions, Parts{});
  EXPECT_EQ(fake_.At("http://w2").partitions, (Parts{0, 1, 2, 3}));
}

TEST_F(JobControllerTest, ANewControllerAdoptsTheRunningAssignment) {
  StartThree();
  const int64_t epoch = fake_.At("http://w0").epoch;
  fake_.ClearPuts();
  controller_ = Make();  // an operator restart
  controller_->UpsertWorker("w0", "http://w0");
  controller_->UpsertWorker("w1", "http://w1");
  controller_->UpsertWorker("w2", "http://w2");
  controller_->Step();
  EXPECT_TRUE(fake_.Puts().empty());
  EXPECT_EQ(Owned("w0"), (Parts{0, 1, 2, 3}));
  EXPECT_EQ(controller_->Snapshot().assignment.epoch, epoch);
}

TEST_F(JobControllerTest, AWorkerAheadOfTheControllerForcesAFreshEpoch) {
  StartThree();
  fake_.At("http://w2").epoch = 9;  // another controller's epoch
  controller_->ReportFailure("w0", "process exited", fake_.now_ms);
  fake_.At("http://w0").alive = false;
  controller_->Step();
  EXPECT_EQ(fake_.At("http://w2").partitions, (Parts{0, 1, 2, 3}));
  EXPECT_EQ(fake_.At("http://w2").epoch, 10);
  EXPECT_EQ(fake_.At("http://w1").epoch, 10);
  EXPECT_EQ(controller_->Snapshot().assignment.epoch, 10);
}

TEST_F(JobControllerTest, TheFailoverRecordsTheNewOwnersFirstOutput) {
  StartThree();
  fake_.At("http://w0").alive = false;
  fake_.now_ms = 3000;
  controller_->ReportFailure("w0", "process exited", 2995);
  controller_->Step();
  EXPECT_EQ(controller_->Snapshot().last_failover->first_output_ms, 0);
  fake_.At("http://w2").first_output_ms = 3080;
  controller_->Step();
  auto r = *controller_->Snapshot().last_failover;
  EXPECT_EQ(r.first_output_ms, 3080);
  EXPECT_EQ(r.ToJson()["firstOutputMs"], 85);
  ASSERT_EQ(callbacks_.size(), 2u);  // handed over, then first output
  EXPECT_EQ(callbacks_[1].first_output_ms, 3080);
}

TEST_F(JobControllerTest, StatusJsonAndTableShowOwnersStandbysAndWarmth) {
  StartThree();
  auto snap = controller_->Snapshot();
  auto j = snap.AssignmentJson();
  EXPECT_EQ(j["epoch"], 1);
  ASSERT_EQ(j["workers"].size(), 3u);
  EXPECT_EQ(j["workers"][0]["name"], "w0");
  EXPECT_EQ(j["workers"][0]["role"], "active");
  EXPECT_EQ(j["workers"][0]["partitions"], nlohmann::json::parse("[0,1,2,3]"));
  EXPECT_EQ(j["workers"][2]["role"], "standby");
  EXPECT_EQ(j["workers"][2]["warm"], true);
  const std::string table = snap.Table();
  EXPECT_NE(table.find("UserSignal/searches  epoch 1  parallelism 2"), std::string::npos) << table;
  EXPECT_NE(table.find("0-3"), std::string::npos) << table;
}

TEST_F(JobControllerTest, ScalingUpMovesOnlyTheExcess) {
  StartThree();
  controller_->SetParallelism(3);
  controller_->Step();
  EXPECT_EQ(Owned("w0").size() + Owned("w1").size() + Owned("w2").size(), 8u);
  EXPECT_FALSE(Owned("w2").empty());
  for (const char* id : {"w0", "w1", "w2"}) {
    EXPECT_EQ(fake_.At(std::string("http://") + id).partitions, Owned(id)) << id;
  }
}

TEST(WorkerStatusParse, ReadsTheWorkerStatusDocument) {
  auto s = ParseWorkerStatus(
      R"({"kind":"UserSignal","job":"j","role":"active","epoch":3,"ready":true,"warm":true,)"
      R"("partitions":[4,1],"lag":7,"replica_lag":5,"assigned_at_ms":10,"first_output_ms":12})");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->epoch, 3);
  EXPECT_EQ(s->replica_lag, 5);
  EXPECT_EQ(ParseWorkerStatus(R"({"epoch":1})")->replica_lag, -1) << "a stateless worker's";
  EXPECT_EQ(s->partitions, (Parts{4, 1}));
  EXPECT_EQ(s->first_output_ms, 12);
  EXPECT_FALSE(ParseWorkerStatus("not json").ok());
  EXPECT_FALSE(ParseWorkerStatus(R"({"partitions":"x","epoch":1})").ok());
}

}  // namespace
}  // namespace usp
