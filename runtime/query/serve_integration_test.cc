// The query service end to end on real parts: the embedded Kafka broker (the
// librdkafka mock cluster), RocksDB in a temp dir, the Beast HTTP server.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/murmur2.h"
#include "core/segment/segment_record.h"
#include "core/session/session_record.h"
#include "core/signal_record.h"
#include "runtime/kafka/embedded_kafka.h"
#include "runtime/kafka/kafka_client.h"
#include "runtime/query/materializer.h"
#include "runtime/query/query_service.h"
#include "runtime/query/signal_source.h"

namespace usp {
namespace {

namespace fs = std::filesystem;
namespace http = boost::beast::http;
using nlohmann::json;

constexpr int32_t kPartitions = 4;
const char* const kSearchTopic = "usp.signal.search";
const char* const kViewTopic = "usp.signal.view";
const char* const kSegmentTopic = "usp.segment.planner";
const char* const kSessionTopic = "usp.session.engagement";

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "usp-serve-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// GET over a fresh Beast connection; returns (status, body).
std::pair<int, std::string> HttpGet(uint16_t port, const std::string& target) {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket socket(ioc);
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  http::request<http::string_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "127.0.0.1");
  http::write(socket, req);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(socket, buffer, res);
  return {static_cast<int>(res.result_int()), res.body()};
}

// One run of the query service's data path over a data directory.
struct ServeInstance {
  std::unique_ptr<KafkaSignalSource> source;
  std::unique_ptr<SignalStore> store;
  MetricsRegistry metrics;
  std::unique_ptr<MaterializerProbe> probe;
  std::unique_ptr<Materializer> materializer;
  std::unique_ptr<QueryService> service;
  std::unique_ptr<HttpServer> server;

  void Start(const std::string& bootstrap, const fs::path& dir, const SignalCatalog& catalog) {
    auto s = KafkaSignalSource::Create(bootstrap, {});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    source = std::move(s).value();
    auto count = DiscoverPartitionCount(source.get(), {kSearchTopic, kViewTopic}, 5000);
    ASSERT_TRUE(count.ok()) << count.status().ToString();
    SignalStoreOptions store_options;
    store_options.partitions = *count;
    auto st = SignalStore::Open(dir, store_options);
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    store = std::move(st).value();
    probe = std::make_unique<MaterializerProbe>(&metrics);
    MaterializerOptions options;
    options.topics = catalog.SignalsByTopic();
    options.segment_topics = catalog.SegmentsByTopic();
    options.session_topics = catalog.JobsByTopic();
    options.max_batch = 50;
    materializer = std::make_unique<Materializer>(source.get(), store.get(), probe.get(), options);
    Status started = materializer->Start();
    ASSERT_TRUE(started.ok()) << started.ToString();
    service = std::make_unique<QueryService>(
        &catalog, store.get(), [m = materializer.get()] { return m->caught_up(); }, &metrics);
    auto srv = HttpServer::Start(
        "127.0.0.1", 0, 2, [svc = service.get()](const HttpRequest& r) { return svc->Handle(r); });
    ASSERT_TRUE(srv.ok()) << srv.status().ToString();
    server = std::move(srv).value();
  }

  // Polls until caught up and nothing more arrives for a few polls.
  void Drain() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    int idle = 0;
    while (std::chrono::steady_clock::now() < deadline &&
           (idle < 5 || !materializer->caught_up())) {
      auto n = materializer->PollOnce();
      ASSERT_TRUE(n.ok()) << n.status().ToString();
      idle = *n == 0 ? idle + 1 : 0;
    }
    ASSERT_TRUE(materializer->caught_up());
  }

  void Stop() {
    if (server) server->Stop();
    server.reset();
    service.reset();
    materializer.reset();
    store.reset();
    source.reset();
  }
};

class ServeIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto kafka = EmbeddedKafka::Start();
    ASSERT_TRUE(kafka.ok()) << kafka.status().ToString();
    kafka_ = std::move(kafka).value();
    ASSERT_TRUE(kafka_->CreateTopic(kSearchTopic, kPartitions).ok());
    ASSERT_TRUE(kafka_->CreateTopic(kViewTopic, kPartitions).ok());
    ASSERT_TRUE(kafka_->CreateTopic(kSegmentTopic, kPartitions).ok());
    ASSERT_TRUE(kafka_->CreateTopic(kSessionTopic, kPartitions).ok());
    ProducerOptions options;
    options.bootstrap = kafka_->bootstrap();
    options.linger_ms = 1;
    auto producer = KafkaProducer::Create(options, [this](const DeliveryReport& r) {
      if (!r.status.ok()) ++delivery_failures_;
    });
    ASSERT_TRUE(producer.ok()) << producer.status().ToString();
    producer_ = std::move(producer).value();
    catalog_.topic_by_signal = {{"search", kSearchTopic}, {"view", kViewTopic}};
    catalog_.topic_by_segment = {{"planner", kSegmentTopic}};
    catalog_.topic_by_job = {{"engagement", kSessionTopic}};
  }

  void ProduceTo(const std::string& topic, const std::string& user, const std::string& payload) {
    Status s = producer_->Produce(topic, PartitionForKey(user, kPartitions), user, payload, 0, 0);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  // Produces one record keyed by user to its murmur2 partition.
  void Produce(const SignalRecord& r) {
    const char* topic = r.signal == "search" ? kSearchTopic : kViewTopic;
    Status s = producer_->Produce(topic, PartitionForKey(r.user_id, kPartitions), r.user_id,
                                  SerializeSignalRecord(r), 0, 0);
    ASSERT_TRUE(s.ok()) << s.ToString();
    produced_[r.user_id]++;
  }
  void Flush() {
    ASSERT_TRUE(producer_->Flush(10000).ok());
    ASSERT_EQ(delivery_failures_, 0);
  }
  static SignalRecord Record(int i, int64_t version = 0) {
    std::string user = "user-" + std::to_string(i % 10);
    int64_t t = 1700000000000 + i * 1000;
    return {user,
            i % 3 == 0 ? "view" : "search",
            t,
            "evt-" + std::to_string(i),
            version ? version : t + 5,
            R"({"n":)" + std::to_string(i) + "}"};
  }

  json Signals(uint16_t port, const std::string& user, const std::string& params = "") {
    auto [status, body] = HttpGet(port, "/v1/users/" + user + "/signals?limit=10000" + params);
    EXPECT_EQ(status, 200) << body;
    return json::parse(body);
  }

  std::unique_ptr<EmbeddedKafka> kafka_;
  std::unique_ptr<KafkaProducer> producer_;
  int delivery_failures_ = 0;
  std::map<std::string, int> produced_;
  SignalCatalog catalog_;
  TempDir dir_;
};

TEST_F(ServeIntegrationTest, MaterializesQueriesAndResumesAfterARestart) {
  for (int i = 0; i < 200; ++i) Produce(Record(i));
  Flush();

  ServeInstance first;
  first.Start(kafka_->bootstrap(), dir_.path(), catalog_);
  ASSERT_FALSE(HasFatalFailure());
  first.Drain();
  ASSERT_FALSE(HasFatalFailure());
  uint16_t port = first.server->port();
  EXPECT_EQ(HttpGet(port, "/readyz").first, 200);
  EXPECT_EQ(first.probe->consumed(), 200);

  json body = Signals(port, "user-3");
  ASSERT_EQ(body["signals"].size(), 20u);
  // Newest first, and each record exactly as produced.
  for (size_t i = 1; i < body["signals"].size(); ++i) {
    EXPECT_GT(body["signals"][i - 1]["event_time"].get<int64_t>(),
              body["signals"][i]["event_time"].get<int64_t>());
  }
  EXPECT_EQ(body["signals"][0].dump(), json::parse(SerializeSignalRecord(Record(193))).dump());
  EXPECT_EQ(body["freshness"]["search"].get<int64_t>(), Record(199).event_time);
  EXPECT_EQ(body["freshness"]["view"].get<int64_t>(), Record(198).event_time);
  EXPECT_EQ(Signals(port, "user-3", "&types=view")["signals"].size(), 7u);
  EXPECT_EQ(Signals(port, "nobody")["signals"].size(), 0u);
  first.Stop();

  // While the service is down: 100 new records, a replay of an old one and
  // a newer version of another.
  for (int i = 200; i < 300; ++i) Produce(Record(i));
  Produce(Record(5));
  produced_[Record(5).user_id]--;
  Produce(Record(13, Record(13).version + 99));
  produced_[Record(13).user_id]--;
  Flush();

  ServeInstance second;
  second.Start(kafka_->bootstrap(), dir_.path(), catalog_);
  ASSERT_FALSE(HasFatalFailure());
  // Resumed from the stored offsets: only the 102 new messages are read.
  second.Drain();
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_EQ(second.probe->consumed(), 102);
  int total = 0;
  for (const auto& [user, count] : produced_) {
    json signals = Signals(second.server->port(), user)["signals"];
    EXPECT_EQ(static_cast<int>(signals.size()), count) << user;
    total += static_cast<int>(signals.size());
    for (const auto& s : signals) {
      if (s["event_id"] == "evt-13") {
        EXPECT_EQ(s["version"].get<int64_t>(), Record(13).version + 99);
      }
    }
  }
  EXPECT_EQ(total, 300);
  std::string metrics = HttpGet(second.server->port(), "/metrics").second;
  EXPECT_NE(metrics.find(R"(usp_events_consumed_total{job="serve",kind="query"} 102)"),
            std::string::npos)
      << metrics;
  second.Stop();
}

TEST_F(ServeIntegrationTest, MaterializesSegmentsAndSessionsAndServesThemOverHttp) {
  // A membership entered at t0 with a wall-clock expiration long past: no
  // `expired` record is produced, yet "now" must answer out.
  const int64_t t0 = 1700000000000;
  ProduceTo(kSegmentTopic, "u1",
            SerializeSegmentRecord(
                {"u1", "planner", true, t0, t0 + 1000, t0 + 5, SegmentReason::kEnter}));
  // The same membership extended (a newer version).
  ProduceTo(kSegmentTopic, "u1",
            SerializeSegmentRecord(
                {"u1", "planner", true, t0, t0 + 5000, t0 + 2005, SegmentReason::kEnter}));
  ProduceTo(kSessionTopic, "u1",
            SerializeSessionRecord({"u1", "engagement", t0, t0 + 600000, R"({"searches":3})",
                                    std::nullopt, t0 + 700000}));
  ProduceTo(kSessionTopic, "u1",
            SerializeSessionRecord({"u1", "engagement", t0 + 600000, t0 + 1200000,
                                    R"({"searches":1})", std::nullopt, t0 + 1300000}));
  Produce(Record(1));  // user-1
  Flush();

  ServeInstance first;
  first.Start(kafka_->bootstrap(), dir_.path(), catalog_);
  ASSERT_FALSE(HasFatalFailure());
  first.Drain();
  ASSERT_FALSE(HasFatalFailure());
  uint16_t port = first.server->port();

  auto get = [](uint16_t p, const std::string& target) {
    auto [status, body] = HttpGet(p, target);
    EXPECT_EQ(status, 200) << target << " " << body;
    return json::parse(body);
  };
  EXPECT_EQ(get(port, "/v1/users/u1/segments"), json::parse(R"({"user_id":"u1","segments":[
      {"segment":"planner","in_segment":false,"start":1700000000000,"expiration":1700000005000}]})"));
  EXPECT_EQ(get(port, "/v1/users/u1/segments?at=" +
                          std::to_string(t0 + 3000))["segments"][0]["in_segment"],
            true);  // the extension superseded the first expiration
  EXPECT_EQ(get(port, "/v1/users/u1/segments?at=" + std::to_string(t0 - 1))["segments"],
            json::array());
  json sessions = get(port, "/v1/users/u1/sessions?job=engagement")["sessions"];
  ASSERT_EQ(sessions.size(), 2u);
  EXPECT_EQ(sessions[0]["window_end"].get<int64_t>(), t0 + 1200000);
  EXPECT_EQ(HttpGet(port, "/v1/users/u1/sessions?job=nope").first, 404);
  EXPECT_EQ(HttpGet(port, "/v1/users/u1/segments?at=yesterday").first, 400);
  json nobody = get(port, "/v1/users/nobody/profile");
  EXPECT_EQ(nobody["segments"], json::array());
  EXPECT_EQ(nobody["sessions"], json::array());
  first.Stop();

  // While down: the async result arrives as a newer version of the first
  // window, and the user re-enters the segment.
  ProduceTo(kSessionTopic, "u1",
            SerializeSessionRecord({"u1", "engagement", t0, t0 + 600000, R"({"searches":3})",
                                    R"({"intent":"trip"})", t0 + 800000}));
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  ProduceTo(kSegmentTopic, "u1",
            SerializeSegmentRecord(
                {"u1", "planner", true, now - 1000, now + 3600000, now, SegmentReason::kEnter}));
  Flush();

  ServeInstance second;
  second.Start(kafka_->bootstrap(), dir_.path(), catalog_);
  ASSERT_FALSE(HasFatalFailure());
  second.Drain();
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_EQ(second.probe->consumed(), 2);  // resumed from the stored offsets
  port = second.server->port();
  json profile = get(port, "/v1/users/u1/profile");
  ASSERT_EQ(profile["segments"].size(), 1u);
  EXPECT_EQ(profile["segments"][0]["in_segment"], true);
  EXPECT_EQ(profile["segments"][0]["start"].get<int64_t>(), now - 1000);
  ASSERT_EQ(profile["sessions"].size(), 2u);
  EXPECT_EQ(profile["sessions"][1]["async_result"], json::parse(R"({"intent":"trip"})"));
  EXPECT_EQ(profile["sessions"][1]["version"].get<int64_t>(), t0 + 800000);
  EXPECT_TRUE(profile["signals"].empty());  // u1 has no signals; user-1 has
  EXPECT_EQ(get(port, "/v1/users/user-1/profile")["signals"].size(), 1u);
  // The old membership is still there for `at`.
  EXPECT_EQ(
      get(port, "/v1/users/u1/segments?at=" + std::to_string(t0 + 3000))["segments"][0]["start"]
          .get<int64_t>(),
      t0);
  std::string metrics = HttpGet(port, "/metrics").second;
  EXPECT_NE(
      metrics.find(
          R"(usp_query_requests_total{job="serve",kind="query",code="200",route="profile"} 2)"),
      std::string::npos)
      << metrics;
  second.Stop();
}

TEST_F(ServeIntegrationTest, MaterializesOnlyTheAssignedPartitions) {
  for (int i = 0; i < 100; ++i) Produce(Record(i));
  Flush();
  ServeInstance instance;
  auto s = KafkaSignalSource::Create(kafka_->bootstrap(), {});
  ASSERT_TRUE(s.ok());
  instance.source = std::move(s).value();
  SignalStoreOptions store_options;
  store_options.partitions = kPartitions;
  auto st = SignalStore::Open(dir_.path(), store_options);
  ASSERT_TRUE(st.ok());
  instance.store = std::move(st).value();
  instance.probe = std::make_unique<MaterializerProbe>(&instance.metrics);
  MaterializerOptions options;
  options.topics = catalog_.SignalsByTopic();
  int32_t owned = PartitionForKey("user-0", kPartitions);
  options.partitions = {owned};
  instance.materializer = std::make_unique<Materializer>(
      instance.source.get(), instance.store.get(), instance.probe.get(), options);
  ASSERT_TRUE(instance.materializer->Start().ok());
  instance.Drain();
  ASSERT_FALSE(HasFatalFailure());
  for (const auto& [user, count] : produced_) {
    SignalQuery q;
    q.user_id = user;
    q.limit = 1000;
    auto rows = instance.store->Query(q);
    ASSERT_TRUE(rows.ok());
    bool mine = PartitionForKey(user, kPartitions) == owned;
    EXPECT_EQ(static_cast<int>(rows->size()), mine ? count : 0) << user;
  }
  instance.Stop();
}

}  // namespace
}  // namespace usp
