// A simple UserSignal with spec.lookups on the real worker, embedded broker
// and RocksDB lookup table: the worker is not ready before the table's
// initial load; events are enriched from rows produced before the worker
// started and from rows produced (or updated) while it runs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "runtime/kafka/embedded_kafka.h"
#include "runtime/lookup/lookup_table.h"
#include "runtime/worker/kafka_io.h"
#include "runtime/worker/signal_worker.h"
#include "runtime/worker/worker_test_fakes.h"

namespace usp {
namespace {

using nlohmann::json;

constexpr int kTimeoutMs = 15000;

class LookupWorkerIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto kafka = EmbeddedKafka::Start();
    ASSERT_TRUE(kafka.ok()) << kafka.status().ToString();
    kafka_ = std::move(kafka).value();
    for (const auto& [topic, partitions] :
         std::vector<std::pair<std::string, int>>{{"bookings", 2},
                                                  {"usp.signal.bookings", 2},
                                                  {"usp.dlq.bookings", 1},
                                                  {"listings", 3}}) {
      ASSERT_TRUE(kafka_->CreateTopic(topic, partitions).ok());
    }
    ProducerOptions options;
    options.bootstrap = kafka_->bootstrap();
    options.linger_ms = 0;
    auto producer = KafkaProducer::Create(options, nullptr);
    ASSERT_TRUE(producer.ok());
    producer_ = std::move(producer).value();
    dir_ = std::filesystem::temp_directory_path() /
           ("usp-lookup-worker-test-" + std::to_string(::getpid()));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Produce(const std::string& topic, std::string_view key, std::string_view value) {
    ASSERT_TRUE(producer_->Produce(topic, kAnyPartition, key, value, 0, 0).ok());
    ASSERT_TRUE(producer_->Flush(kTimeoutMs).ok());
  }
  void Booking(const std::string& user, const std::string& listing, int64_t time) {
    Produce("bookings", user,
            json{{"user_id", user}, {"event_time", time}, {"listing_id", listing}}.dump());
  }

  std::unique_ptr<EmbeddedKafka> kafka_;
  std::unique_ptr<KafkaProducer> producer_;
  std::filesystem::path dir_;
  MetricsRegistry registry_;
  WorkerMetrics metrics_{&registry_, "UserSignal", "bookings"};
};

TEST_F(LookupWorkerIntegrationTest, EnrichesEventsFromRowsProducedBeforeAndAfterThem) {
  UserSignal signal = testing::MakeSignal(
      "bookings", "bookings",
      json::parse(R"({
        "lookups": [{"name": "listing", "kafkaTopic": "listings", "keyField": "/listing_id"}],
        "attributes": {"listing": "/listing_id", "city": "/lookups/listing/city",
                       "price": "/lookups/listing/price"}})"));
  // Rows produced before the worker starts.
  Produce("listings", "L1", R"({"city":"Paris","price":120})");
  Produce("listings", "L2", R"({"city":"Rome","price":80})");

  LookupTableOptions table_options;
  table_options.name = "listing";
  table_options.topic = "listings";
  table_options.bootstrap = kafka_->bootstrap();
  table_options.db_path = (dir_ / "listing").string();
  auto table = LookupTable::Open(table_options);
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  LookupTable* listing = table->get();
  std::vector<std::unique_ptr<LookupTable>> list;
  list.push_back(std::move(table).value());
  LookupTables tables(std::move(list));

  auto transform = SignalTransform::Create(signal);
  ASSERT_TRUE(transform.ok());
  (*transform)->SetLookupSource(&tables);
  auto source = KafkaSourceReader::Create(
      {kafka_->bootstrap(), "usp.UserSignal.bookings", "test-worker", "earliest", {}});
  ASSERT_TRUE(source.ok());
  ProducerOptions popts;
  popts.bootstrap = kafka_->bootstrap();
  popts.linger_ms = 1;
  auto sink = KafkaRecordSink::Create(popts);
  ASSERT_TRUE(sink.ok());
  SignalWorker worker(signal, std::move(transform).value(), source->get(), sink->get(), &metrics_,
                      SystemClock(), {});
  worker.AddStartGate("lookup tables", [&tables] { return tables.loaded(); });

  // Not ready (not warm) before the initial load.
  Status s = worker.Start();
  EXPECT_EQ(s.code(), Status::Code::kUnavailable) << s.ToString();
  EXPECT_FALSE(worker.ready());
  ASSERT_TRUE(listing->Start().ok());
  ASSERT_TRUE(listing->WaitLoaded(kTimeoutMs));
  ASSERT_TRUE(worker.Start().ok());
  EXPECT_TRUE(worker.ready());

  ConsumerOptions reader_options;
  reader_options.bootstrap = kafka_->bootstrap();
  reader_options.group_id = "reader";
  auto reader = KafkaConsumer::Create(reader_options);
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE((*reader)
                  ->Assign({{"usp.signal.bookings", 0, kOffsetBeginning},
                            {"usp.signal.bookings", 1, kOffsetBeginning}})
                  .ok());
  std::vector<json> outputs;
  std::vector<ConsumedMessage> batch;
  auto run_until = [&](size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
    while (outputs.size() < n && std::chrono::steady_clock::now() < deadline) {
      Status r = worker.RunOnce();
      if (!r.ok()) return r;
      USP_RETURN_IF_ERROR((*reader)->Poll(100, 10, &batch));
      for (const auto& m : batch) outputs.push_back(json::parse(m.payload));
    }
    return outputs.size() >= n ? Status::Ok() : Status::Unavailable("no output in time");
  };
  auto attributes_of = [&](const std::string& user) {
    for (const json& o : outputs) {
      if (o["user_id"] == user) return o["attributes"];
    }
    return json();
  };

  // An event enriched from a row produced before the worker started.
  Booking("u1", "L1", 1000);
  ASSERT_TRUE(run_until(1).ok());
  EXPECT_EQ(attributes_of("u1"), json::parse(R"({"listing":"L1","city":"Paris","price":120})"));

  // A row produced after the worker started (and after the event's key was
  // first missing), and an update of an existing row.
  Booking("u2", "L3", 2000);
  ASSERT_TRUE(run_until(2).ok());
  EXPECT_EQ(attributes_of("u2"), json::parse(R"({"listing":"L3","city":null,"price":null})"));
  Produce("listings", "L3", R"({"city":"Oslo","price":99})");
  Produce("listings", "L1", R"({"city":"Lyon","price":70})");
  Produce("listings", "L2", std::string_view());  // deleted
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
  std::string value;
  while ((!listing->Get("L3", &value) || listing->Get("L2", &value)) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(listing->Get("L1", &value));
  ASSERT_EQ(value, R"({"city":"Lyon","price":70})");
  Booking("u3", "L3", 3000);
  Booking("u4", "L1", 4000);
  Booking("u5", "L2", 5000);
  ASSERT_TRUE(run_until(5).ok());
  EXPECT_EQ(attributes_of("u3"), json::parse(R"({"listing":"L3","city":"Oslo","price":99})"));
  EXPECT_EQ(attributes_of("u4"), json::parse(R"({"listing":"L1","city":"Lyon","price":70})"));
  EXPECT_EQ(attributes_of("u5"), json::parse(R"({"listing":"L2","city":null,"price":null})"));
  EXPECT_TRUE(worker.Finish().ok());
}

}  // namespace
}  // namespace usp
