#include "runtime/worker/worker_cli.h"

#include "runtime/kafka/kafka_properties.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace usp {
namespace {

class WorkerCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("usp_worker_cli_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    std::filesystem::path p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }

  WorkerFlags Flags(const std::string& config) {
    WorkerFlags flags;
    flags.config = config;
    flags.bootstrap = "127.0.0.1:9092";
    return flags;
  }

  std::filesystem::path dir_;
};

constexpr char kValid[] = R"(apiVersion: usp.dev/v1alpha1
kind: UserSignal
metadata:
  name: searches
spec:
  eventSources:
    - kafkaTopic: search-events
)";

TEST_F(WorkerCliTest, AValidSignalGivesDefaultsForGroupAndTopics) {
  auto config = LoadWorkerConfig(Flags(Write("s.yaml", kValid)));
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->signal.metadata.name, "searches");
  EXPECT_EQ(config->consumer.group_id, "usp.UserSignal.searches");
  EXPECT_EQ(config->consumer.bootstrap, "127.0.0.1:9092");
  EXPECT_EQ(config->producer.bootstrap, "127.0.0.1:9092");
  EXPECT_TRUE(config->options.all_partitions);
  EXPECT_TRUE(config->options.partitions.empty());
}

TEST_F(WorkerCliTest, FlagsOverrideGroupPartitionsAndKafkaProperties) {
  WorkerFlags flags = Flags(Write("s.yaml", kValid));
  flags.group = "g";
  flags.partitions = "0, 1,5";
  flags.kafka_properties = {"security.protocol=SASL_SSL", "sasl.password=a=b"};
  auto config = LoadWorkerConfig(flags);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->consumer.group_id, "g");
  EXPECT_EQ(config->options.partitions, (std::vector<int32_t>{0, 1, 5}));
  EXPECT_EQ(config->consumer.properties.at("sasl.password"), "a=b");
  EXPECT_EQ(config->producer.properties.at("security.protocol"), "SASL_SSL");
}

TEST_F(WorkerCliTest, InvalidSpecReportsFieldPaths) {
  std::string bad = std::string(kValid) + "  onError: explode\n";
  auto config = LoadWorkerConfig(Flags(Write("bad.yaml", bad)));
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("spec.onError"), std::string::npos)
      << config.status().message();
}

TEST_F(WorkerCliTest, TwoResourcesAreRejected) {
  std::string two = std::string(kValid) + "---\n" + kValid;
  // Same name twice is a duplicate error; use a different name for the second.
  two.replace(two.rfind("searches"), 8, "clicks");
  auto config = LoadWorkerConfig(Flags(Write("two.yaml", two)));
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("exactly one"), std::string::npos)
      << config.status().message();
}

TEST_F(WorkerCliTest, AMissingFileIsAnError) {
  EXPECT_FALSE(LoadWorkerConfig(Flags((dir_ / "nope.yaml").string())).ok());
}

TEST(ParsePartitionList, AcceptsNumbersAndNone) {
  SignalWorkerOptions options;
  ASSERT_TRUE(ParsePartitionList("3", &options).ok());
  EXPECT_EQ(options.partitions, (std::vector<int32_t>{3}));
  EXPECT_FALSE(options.all_partitions);
  ASSERT_TRUE(ParsePartitionList("none", &options).ok());
  EXPECT_TRUE(options.partitions.empty());
  EXPECT_FALSE(options.all_partitions);
  ASSERT_TRUE(ParsePartitionList("", &options).ok());
  EXPECT_TRUE(options.all_partitions);
}

TEST(ParsePartitionList, RejectsWhatIsNotAPartitionNumber) {
  SignalWorkerOptions options;
  for (const char* bad : {"a", "1,,2", "-1", "1,", "2x"}) {
    Status s = ParsePartitionList(bad, &options);
    EXPECT_FALSE(s.ok()) << bad;
  }
}

TEST(ParseKafkaProperties, RequiresKeyEqualsValue) {
  auto missing = ParseKafkaProperties({"novalue"}, "--kafka-property");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "--kafka-property: expected KEY=VALUE, got 'novalue'");
  EXPECT_FALSE(ParseKafkaProperties({"=v"}, "-X").ok());
  auto ok = ParseKafkaProperties({"a=", "b=1", "c=x=y"}, "-X");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->at("a"), "");
  EXPECT_EQ(ok->at("b"), "1");
  EXPECT_EQ(ok->at("c"), "x=y");
}

TEST(WorkerFlagsParsing, BootstrapAndConfigAreRequired) {
  CLI::App app;
  WorkerFlags flags;
  AddWorkerFlags(&app, &flags);
  const char* argv[] = {"worker", "--config", "x.yaml"};
  EXPECT_THROW(app.parse(3, const_cast<char**>(argv)), CLI::ParseError);
}

TEST(WorkerFlagsParsing, RepeatedKafkaPropertiesAccumulate) {
  CLI::App app;
  WorkerFlags flags;
  AddWorkerFlags(&app, &flags);
  const char* argv[] = {"worker", "--config",         "x.yaml", "--bootstrap",
                        "h:1",    "--kafka-property", "a=1",    "--kafka-property",
                        "b=2",    "--http-port",      "0"};
  app.parse(11, const_cast<char**>(argv));
  EXPECT_EQ(flags.kafka_properties, (std::vector<std::string>{"a=1", "b=2"}));
  EXPECT_EQ(flags.http_port, 0);
  EXPECT_EQ(flags.bootstrap, "h:1");
}

}  // namespace
}  // namespace usp
