// AsyncComputeSink wired into a real StatefulWorker (the production owner):
// the decorator's records never reach the worker's delivery accounting.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "runtime/async/async_compute_sink.h"
#include "runtime/async/async_test_service.h"
#include "runtime/stateful/stateful_worker.h"
#include "runtime/worker/worker_test_fakes.h"

namespace usp {
namespace {

namespace fs = std::filesystem;
using testing::Answer;
using testing::FakeClock;
using testing::FakeRecordSink;
using testing::FakeSourceReader;
using testing::TestService;

constexpr char kSource[] = "usp.signal.views";
constexpr char kOutput[] = "usp.session.s";
constexpr char kChangelog[] = "usp.changelog.sessionjob.s";

// Every source record {"user"} emits the session record of the user's window
// [0, 10m) with the count so far.
class WindowProcessor : public KeyedProcessor {
 public:
  Result<std::string> KeyOf(std::string_view record) override {
    auto j = nlohmann::json::parse(record, nullptr, false);
    if (j.is_discarded() || !j.contains("user")) return Status::InvalidArgument("no user");
    return j["user"].get<std::string>();
  }
  Status Process(std::string_view key, std::string_view, const std::optional<std::string>& state,
                 ProcessorEffects* out) override {
    const int count = state ? std::stoi(*state) + 1 : 1;
    out->state_changed = true;
    out->state = std::to_string(count);
    SessionRecord r;
    r.user_id = std::string(key);
    r.job = "s";
    r.window_start = 0;
    r.window_end = 600000;
    r.aggregations_json = nlohmann::json{{"views", count}}.dump();
    r.version = ++version_;
    out->outputs.push_back({std::string(key), SerializeSessionRecord(r), r.version});
    return Status::Ok();
  }
  Status OnTimer(std::string_view, int64_t, const std::optional<std::string>&,
                 ProcessorEffects*) override {
    return Status::Ok();
  }

 private:
  int64_t version_ = 0;
};

class AsyncComputeStatefulTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "usp-async-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    store_ = std::move(StateStore::Open((dir_ / "db").string())).value();
    source_.partition_counts[kSource] = 2;
    inner_.partition_counts[kOutput] = 2;
    inner_.partition_counts[kChangelog] = 2;
  }
  void TearDown() override {
    worker_.reset();
    sink_.reset();
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  fs::path dir_;
  std::unique_ptr<StateStore> store_;
  FakeSourceReader source_;
  FakeRecordSink inner_;
  FakeClock clock_;
  WindowProcessor processor_;
  std::unique_ptr<AsyncComputeSink> sink_;
  std::unique_ptr<StatefulWorker> worker_;
};

TEST_F(AsyncComputeStatefulTest, EnrichedRecordsDoNotTouchTheWorkersDeliveryAccounting) {
  TestService service([](const HttpRequest&, int) { return Answer(200, R"({"segment":"fan"})"); });
  AsyncComputeSpec spec;
  spec.url = service.url;
  sink_ = MakeAsyncComputeSink(&inner_, "SessionJob", "s", kOutput, spec, nullptr, &clock_);
  StatefulWorkerOptions o;
  o.partitions = {0};
  o.commit_interval_ms = 0;
  worker_ = std::make_unique<StatefulWorker>(
      StatefulJob{"SessionJob", "s", {kSource}, kOutput, kChangelog}, &processor_, &source_,
      sink_.get(), store_.get(), nullptr, &clock_, o);
  ASSERT_TRUE(worker_->Start().ok());

  inner_.auto_ack = false;  // the test acknowledges
  source_.Add(kSource, 0, 0, R"({"user":"u1"})");
  source_.Add(kSource, 0, 1, R"({"user":"u2"})");
  ASSERT_TRUE(worker_->RunOnce().ok());
  ASSERT_EQ(inner_.sent.size(), 2u);  // the 2 outputs; their changelog waits for them

  // The worker's loop (sink Poll(0) in RunOnce) sends the enriched versions.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (inner_.sent.size() < 4 && std::chrono::steady_clock::now() < deadline) {
    sink_->client().WaitForResults(20);
    ASSERT_TRUE(worker_->RunOnce().ok());
  }
  ASSERT_EQ(inner_.sent.size(), 4u);
  for (size_t i = 2; i < 4; ++i) {
    EXPECT_EQ(inner_.sent[i].topic, kOutput);
    EXPECT_NE(inner_.sent[i].opaque & kAsyncComputeOpaqueBit, 0u);
    EXPECT_EQ(nlohmann::json::parse(inner_.sent[i].value)["async_result"]["segment"], "fan");
  }
  // Nothing committed before the originals are acknowledged.
  EXPECT_EQ(source_.CommittedOffset(kSource, 0), kOffsetInvalid);

  // The enriched records fail, the originals succeed: the worker is not
  // failed by the enrichments; the originals release the changelog, and
  // once that is acknowledged both source offsets are committed.
  inner_.Report(2, Status::Unavailable("broker down"));
  inner_.Report(3, Status::Unavailable("broker down"));
  inner_.Report(0);
  inner_.Report(1);
  ASSERT_TRUE(worker_->RunOnce().ok());
  ASSERT_EQ(inner_.sent.size(), 6u);
  EXPECT_EQ(inner_.sent[4].topic, kChangelog);
  EXPECT_EQ(source_.CommittedOffset(kSource, 0), kOffsetInvalid);
  inner_.Report(4);
  inner_.Report(5);
  ASSERT_TRUE(worker_->RunOnce().ok());
  EXPECT_EQ(source_.CommittedOffset(kSource, 0), 2);
  EXPECT_EQ(sink_->stats().delivery_failed, 2);
  inner_.auto_ack = true;
  EXPECT_TRUE(worker_->Finish().ok());
}

}  // namespace
}  // namespace usp
