// LookupTable against the embedded broker: initial load up to the end
// offsets captured at start, then updates and tombstones while running.
#include "runtime/lookup/lookup_table.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <filesystem>
#include <thread>

#include "runtime/kafka/embedded_kafka.h"

namespace usp {
namespace {

class LookupTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto kafka = EmbeddedKafka::Start();
    ASSERT_TRUE(kafka.ok()) << kafka.status().ToString();
    kafka_ = std::move(kafka).value();
    ASSERT_TRUE(kafka_->CreateTopic("listings", 3).ok());
    ProducerOptions options;
    options.bootstrap = kafka_->bootstrap();
    options.linger_ms = 0;
    auto producer = KafkaProducer::Create(options, nullptr);
    ASSERT_TRUE(producer.ok()) << producer.status().ToString();
    producer_ = std::move(producer).value();
    dir_ = std::filesystem::temp_directory_path() /
           ("usp-lookup-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  void TearDown() override {
    table_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Produce(std::string_view key, std::string_view value) {
    ASSERT_TRUE(producer_->Produce("listings", kAnyPartition, key, value, 0, 0).ok());
    ASSERT_TRUE(producer_->Flush(10000).ok());
  }

  void OpenTable() {
    LookupTableOptions options;
    options.name = "listing";
    options.topic = "listings";
    options.bootstrap = kafka_->bootstrap();
    options.db_path = dir_.string();
    options.on_progress = [this](int64_t rows, int64_t) { progress_rows_ = rows; };
    auto table = LookupTable::Open(options);
    ASSERT_TRUE(table.ok()) << table.status().ToString();
    table_ = std::move(table).value();
  }

  // Waits until Get(key) gives `want` (nullopt: absent).
  bool WaitFor(std::string_view key, std::optional<std::string> want, int timeout_ms = 10000) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      std::string value;
      const bool found = table_->Get(key, &value);
      if (want ? (found && value == *want) : !found) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  std::unique_ptr<EmbeddedKafka> kafka_;
  std::unique_ptr<KafkaProducer> producer_;
  std::filesystem::path dir_;
  std::unique_ptr<LookupTable> table_;
  std::atomic<int64_t> progress_rows_{-1};
};

TEST_F(LookupTableTest, LoadsEverythingBeforeStartThenFollowsUpdatesAndTombstones) {
  for (int i = 0; i < 50; ++i) {
    Produce("L" + std::to_string(i), R"({"city":"c)" + std::to_string(i) + R"(","price":)" +
                                         std::to_string(i) + "}");
  }
  Produce("L1", R"({"city":"Paris","price":120})");  // a newer version of L1
  Produce("L2", std::string_view());                 // a tombstone deletes L2
  Produce("bad", "{not json");                       // skipped and counted

  OpenTable();
  ASSERT_TRUE(table_->Start().ok());
  ASSERT_TRUE(table_->WaitLoaded(10000));
  // Loaded means everything produced before Start() is applied.
  std::string value;
  ASSERT_TRUE(table_->Get("L1", &value));
  EXPECT_EQ(value, R"({"city":"Paris","price":120})");
  EXPECT_FALSE(table_->Get("L2", &value));
  ASSERT_TRUE(table_->Get("L49", &value));
  EXPECT_EQ(value, R"({"city":"c49","price":49})");
  EXPECT_FALSE(table_->Get("bad", &value));
  EXPECT_FALSE(table_->Get("nope", &value));
  EXPECT_EQ(table_->invalid(), 1);
  EXPECT_GT(table_->rows(), 0);
  EXPECT_GT(progress_rows_.load(), 0);

  // Kept current while running: inserts, updates, deletes.
  Produce("L100", R"({"city":"Rome"})");
  EXPECT_TRUE(WaitFor("L100", std::string(R"({"city":"Rome"})")));
  Produce("L100", R"({"city":"Oslo"})");
  EXPECT_TRUE(WaitFor("L100", std::string(R"({"city":"Oslo"})")));
  Produce("L100", std::string_view());
  EXPECT_TRUE(WaitFor("L100", std::nullopt));
  Produce("L3", "");  // an empty value is a tombstone too
  EXPECT_TRUE(WaitFor("L3", std::nullopt));
  EXPECT_TRUE(table_->loader_status().ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (table_->lag() != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(table_->lag(), 0);
}

TEST_F(LookupTableTest, AnEmptyTopicIsLoadedAtOnceAndTheDatabaseIsRebuiltOnOpen) {
  OpenTable();
  ASSERT_TRUE(table_->Start().ok());
  EXPECT_TRUE(table_->WaitLoaded(5000));
  Produce("k", R"("v")");
  EXPECT_TRUE(WaitFor("k", std::string(R"("v")")));
  table_.reset();

  // Reopened on the same directory: wiped, then loaded again from the topic.
  OpenTable();
  std::string value;
  EXPECT_FALSE(table_->Get("k", &value));
  ASSERT_TRUE(table_->Start().ok());
  ASSERT_TRUE(table_->WaitLoaded(10000));
  ASSERT_TRUE(table_->Get("k", &value));
  EXPECT_EQ(value, R"("v")");
}

TEST(LookupTables, AreTheTransformsLookupSourceInSpecOrder) {
  LookupTables none({});
  std::string value;
  EXPECT_FALSE(none.Lookup(0, "k", &value));
  EXPECT_TRUE(none.loaded());
}

}  // namespace
}  // namespace usp
