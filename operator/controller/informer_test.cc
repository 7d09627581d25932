#include "operator/controller/informer.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "operator/kube/fake_kube_client.h"

namespace usp::op {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

json ConfigMap(const std::string& name, const std::string& value) {
  return {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", name}}}, {"data", {{"v", value}}}};
}

template <typename Pred>
bool Eventually(Pred pred, milliseconds timeout = milliseconds(3000)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return pred();
}

class InformerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    InformerOptions options;
    options.ns = "default";
    options.initial_backoff = milliseconds(5);
    options.max_backoff = milliseconds(20);
    informer_ = std::make_unique<Informer>(&client_, kube::ConfigMaps(), options);
    informer_->AddHandler([this](const std::string& type, const json& obj) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(type + " " + kube::Name(obj) + " " + obj["data"].value("v", ""));
    });
  }
  void TearDown() override { informer_->Stop(); }

  std::vector<std::string> Events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  bool Saw(const std::string& event) {
    auto e = Events();
    return std::find(e.begin(), e.end(), event) != e.end();
  }
  std::string CachedValue(const std::string& name) {
    auto obj = informer_->Get({"default", name});
    return obj ? (*obj)["data"].value("v", "") : "<absent>";
  }

  kube::FakeKubeClient client_;
  std::unique_ptr<Informer> informer_;
  std::mutex mu_;
  std::vector<std::string> events_;
};

TEST_F(InformerTest, ListsThenWatchesFromTheListVersion) {
  ASSERT_TRUE(client_.Create(kube::ConfigMaps(), "default", ConfigMap("a", "1")).ok());
  informer_->Start();
  ASSERT_TRUE(Eventually([&] { return informer_->HasSynced(); }));
  // HasSynced turns true when the cache is filled, before the handlers hear
  // of it (they run after, on the informer's thread): wait for the event.
  EXPECT_TRUE(Eventually([&] { return Saw("ADDED a 1"); }));
  ASSERT_TRUE(client_.Create(kube::ConfigMaps(), "default", ConfigMap("b", "1")).ok());
  auto b = client_.Get(kube::ConfigMaps(), "default", "b");
  json changed = *b;
  changed["data"]["v"] = "2";
  ASSERT_TRUE(client_.Update(kube::ConfigMaps(), "default", changed).ok());
  ASSERT_TRUE(client_.Delete(kube::ConfigMaps(), "default", "a").ok());
  ASSERT_TRUE(Eventually([&] { return Saw("DELETED a 1"); }));
  // One thread delivers the events in order: those before "DELETED a" are in.
  EXPECT_EQ(Events(),
            (std::vector<std::string>{"ADDED a 1", "ADDED b 1", "MODIFIED b 2", "DELETED a 1"}));
  EXPECT_EQ(CachedValue("b"), "2");
  EXPECT_EQ(CachedValue("a"), "<absent>");
  EXPECT_EQ(informer_->ListCount(), 1);
  EXPECT_EQ(informer_->LastResourceVersion(), client_.CurrentVersion());
}

TEST_F(InformerTest, RelistsOn410GoneAndDeliversWhatChangedMeanwhile) {
  ASSERT_TRUE(client_.Create(kube::ConfigMaps(), "default", ConfigMap("a", "1")).ok());
  informer_->Start();
  ASSERT_TRUE(Eventually([&] { return informer_->HasSynced() && client_.WatchCalls() >= 1; }));
  client_.ExpireWatches(kube::ConfigMaps());
  ASSERT_TRUE(Eventually([&] { return informer_->ListCount() == 2; }));
  ASSERT_TRUE(client_.Create(kube::ConfigMaps(), "default", ConfigMap("c", "1")).ok());
  ASSERT_TRUE(Eventually([&] { return CachedValue("c") == "1"; }));
  EXPECT_EQ(CachedValue("a"), "1");
  EXPECT_TRUE(Eventually([&] { return Saw("ADDED c 1"); }));
  EXPECT_EQ(informer_->ListCount(), 2);
}

TEST_F(InformerTest, ReconnectsAfterASilentCloseWithoutMissingAnUpdate) {
  ASSERT_TRUE(client_.Create(kube::ConfigMaps(), "default", ConfigMap("a", "1")).ok());
  informer_->Start();
  ASSERT_TRUE(Eventually([&] { return informer_->HasSynced() && client_.WatchCalls() >= 1; }));
  // The stream drops; an update lands before the informer reconnects. It
  // must arrive through the next watch, which resumes from the last version.
  client_.SetHook([&](const std::string& verb, const kube::ResourceDescriptor&, const std::string&,
                      const std::string&) -> std::optional<kube::ApiError> {
    if (verb == "watch") std::this_thread::sleep_for(milliseconds(30));
    return std::nullopt;
  });
  client_.CloseWatches();
  auto a = client_.Get(kube::ConfigMaps(), "default", "a");
  json changed = *a;
  changed["data"]["v"] = "while-disconnected";
  ASSERT_TRUE(client_.Update(kube::ConfigMaps(), "default", changed).ok());
  ASSERT_TRUE(Eventually([&] { return CachedValue("a") == "while-disconnected"; }));
  // The cache is written before the handlers run (both on the informer's
  // thread, handlers last), so the event may trail the cache a little.
  EXPECT_TRUE(Eventually([&] { return Saw("MODIFIED a while-disconnected"); }));
  EXPECT_EQ(informer_->ListCount(), 1);  // resumed, not relisted
  EXPECT_GE(client_.WatchCalls(), 2);
  // Exactly once, and as a change, not a relist's replay.
  EXPECT_EQ(Events(), (std::vector<std::string>{"ADDED a 1", "MODIFIED a while-disconnected"}));
}

TEST_F(InformerTest, BookmarksAdvanceTheResumeVersion) {
  informer_->Start();
  ASSERT_TRUE(Eventually([&] { return informer_->HasSynced() && client_.WatchCalls() >= 1; }));
  // Changes to other resources move the global version; a bookmark tells
  // the informer it may resume from there.
  ASSERT_TRUE(client_.Create(kube::Deployments(), "default", {{"metadata", {{"name", "d"}}}}).ok());
  const std::string before = informer_->LastResourceVersion();
  client_.SendBookmark(kube::ConfigMaps());
  ASSERT_TRUE(Eventually([&] { return informer_->LastResourceVersion() == client_.CurrentVersion(); }));
  EXPECT_NE(informer_->LastResourceVersion(), before);
  EXPECT_TRUE(Events().empty());  // bookmarks are not changes
}

TEST_F(InformerTest, BacksOffAndRetriesWhenTheServerIsDown) {
  std::atomic<int> failures{3};
  client_.SetHook([&](const std::string& verb, const kube::ResourceDescriptor&, const std::string&,
                      const std::string&) -> std::optional<kube::ApiError> {
    if (verb == "list" && failures.fetch_sub(1) > 0) return kube::ApiError::Transport("connection refused");
    return std::nullopt;
  });
  ASSERT_TRUE(client_.Create(kube::ConfigMaps(), "default", ConfigMap("a", "1")).ok());
  informer_->Start();
  ASSERT_TRUE(Eventually([&] { return informer_->HasSynced(); }));
  EXPECT_EQ(informer_->ListCount(), 4);
  EXPECT_EQ(CachedValue("a"), "1");
}

}  // namespace
}  // namespace usp::op
