#include "runtime/state/state_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

namespace usp {
namespace {

namespace fs = std::filesystem;

class StateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "usp-state-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    auto s = StateStore::Open((dir_ / "db").string());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::optional<std::string> Get(int32_t p, const std::string& key) {
    auto r = store_->Get(p, key);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::nullopt;
  }

  fs::path dir_;
  std::unique_ptr<StateStore> store_;
};

TEST_F(StateStoreTest, PartitionsKeepTheirOwnKeys) {
  ASSERT_TRUE(store_->Apply(0, {{"u1", "a"}, {"u2", "b"}}).ok());
  ASSERT_TRUE(store_->Apply(1, {{"u1", "c"}}).ok());
  EXPECT_EQ(Get(0, "u1"), "a");
  EXPECT_EQ(Get(1, "u1"), "c");
  EXPECT_EQ(Get(2, "u1"), std::nullopt);
}

TEST_F(StateStoreTest, ANullOrEmptyValueDeletes) {
  ASSERT_TRUE(store_->Apply(0, {{"u1", "a"}, {"u2", "b"}}).ok());
  ASSERT_TRUE(store_->Apply(0, {{"u1", std::nullopt}, {"u2", std::string()}}).ok());
  EXPECT_EQ(Get(0, "u1"), std::nullopt);
  EXPECT_EQ(Get(0, "u2"), std::nullopt);
}

TEST_F(StateStoreTest, ChangelogPositionIsWrittenWithTheChangesAndOnlyWhenGiven) {
  EXPECT_EQ(store_->ChangelogNext(3), 0);
  ASSERT_TRUE(store_->Apply(3, {{"u1", "a"}}, 17).ok());
  EXPECT_EQ(store_->ChangelogNext(3), 17);
  ASSERT_TRUE(store_->Apply(3, {{"u1", "b"}}).ok());  // an active write
  EXPECT_EQ(store_->ChangelogNext(3), 17);
  EXPECT_EQ(store_->ChangelogNext(4), 0);
}

TEST_F(StateStoreTest, ScanReturnsOnePartitionsPrefixInKeyOrder) {
  ASSERT_TRUE(store_->Apply(0, {{"b/2", "x"}, {"a/1", "y"}, {"b/1", "z"}, {"c", "w"}}).ok());
  ASSERT_TRUE(store_->Apply(1, {{"b/0", "other partition"}}).ok());
  std::vector<std::string> keys;
  ASSERT_TRUE(store_->Scan(0, "b/", [&](std::string_view k, std::string_view) {
                       keys.emplace_back(k);
                       return true;
                     }).ok());
  EXPECT_EQ(keys, (std::vector<std::string>{"b/1", "b/2"}));
}

TEST_F(StateStoreTest, DropPartitionForgetsStateAndPosition) {
  ASSERT_TRUE(store_->Apply(5, {{"u1", "a"}}, 9).ok());
  ASSERT_TRUE(store_->Apply(6, {{"u1", "b"}}, 4).ok());
  ASSERT_TRUE(store_->DropPartition(5).ok());
  EXPECT_EQ(Get(5, "u1"), std::nullopt);
  EXPECT_EQ(store_->ChangelogNext(5), 0);
  EXPECT_EQ(Get(6, "u1"), "b");
  EXPECT_EQ(store_->ChangelogNext(6), 4);
}

TEST_F(StateStoreTest, StateSurvivesReopening) {
  ASSERT_TRUE(store_->Apply(0, {{"u1", "a"}}, 3).ok());
  store_.reset();
  auto s = StateStore::Open((dir_ / "db").string());
  ASSERT_TRUE(s.ok());
  store_ = std::move(s).value();
  EXPECT_EQ(Get(0, "u1"), "a");
  EXPECT_EQ(store_->ChangelogNext(0), 3);
}

TEST(TimerKeys, RoundTripAndSortByTimeIncludingNegativeTimes) {
  int64_t at = 0;
  std::string id;
  ASSERT_TRUE(ParseTimerKey(TimerKey(1700000000000, "user-1"), &at, &id));
  EXPECT_EQ(at, 1700000000000);
  EXPECT_EQ(id, "user-1");
  EXPECT_LT(TimerKey(-5, "z"), TimerKey(3, "a"));
  EXPECT_LT(TimerKey(3, "z"), TimerKey(4, "a"));
  EXPECT_FALSE(ParseTimerKey("user-1", &at, &id));
}

TEST_F(StateStoreTest, DueTimersAreThoseAtOrBeforeNowOldestFirst) {
  ASSERT_TRUE(store_->Apply(0, {{TimerKey(300, "c"), "1"},
                                {TimerKey(100, "a"), "1"},
                                {TimerKey(200, "b"), "1"},
                                {"u1", "state"}})
                  .ok());
  ASSERT_TRUE(store_->Apply(1, {{TimerKey(50, "other"), "1"}}).ok());
  auto due = DueTimers(*store_, 0, 200);
  ASSERT_TRUE(due.ok());
  ASSERT_EQ(due->size(), 2u);
  EXPECT_EQ((*due)[0], (std::pair<int64_t, std::string>{100, "a"}));
  EXPECT_EQ((*due)[1], (std::pair<int64_t, std::string>{200, "b"}));
  EXPECT_EQ(DueTimers(*store_, 0, 99)->size(), 0u);
  EXPECT_EQ(DueTimers(*store_, 0, 1000, /*max=*/1)->size(), 1u);
  // Only those after a time: (100, 300].
  auto later = DueTimers(*store_, 0, 300, 1000, /*after_ms=*/100);
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(*later, (std::vector<std::pair<int64_t, std::string>>{{200, "b"}, {300, "c"}}));
  EXPECT_TRUE(DueTimers(*store_, 0, 1000, 1000, /*after_ms=*/300)->empty());
  EXPECT_EQ(DueTimers(*store_, 1, 1000, 1000, /*after_ms=*/-5)->size(), 1u) << "negative times sort first";
}

}  // namespace
}  // namespace usp
