// Secrets in librdkafka properties: redaction in dumps and errors, and SASL
// credentials taken from the environment (the Secret reference).
#include "runtime/kafka/kafka_common.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <memory>
#include <sstream>
#include <string>

namespace usp::kafka_internal {
namespace {

constexpr const char* kPassword = "hunter2-very-secret";

std::string Get(rd_kafka_conf_t* conf, const char* name) {
  char value[512];
  size_t size = sizeof(value);
  if (rd_kafka_conf_get(conf, name, value, &size) != RD_KAFKA_CONF_OK) return "<unset>";
  return value;
}

TEST(KafkaSecrets, KnowsWhichPropertiesAreSecret) {
  for (const char* name :
       {"sasl.password", "ssl.key.password", "ssl.key.pem", "ssl.keystore.password",
        "sasl.oauthbearer.config", "sasl.oauthbearer.client.secret", "ssl_key"}) {
    EXPECT_TRUE(IsSecretKafkaProperty(name)) << name;
  }
  for (const char* name : {"sasl.username", "sasl.mechanism", "security.protocol",
                           "ssl.key.location", "ssl.ca.location", "bootstrap.servers"}) {
    EXPECT_FALSE(IsSecretKafkaProperty(name)) << name;
  }
}

TEST(KafkaSecrets, DumpsPropertiesWithSecretsRedacted) {
  KafkaProperties properties = {{"security.protocol", "SASL_SSL"},
                                {"sasl.username", "usp"},
                                {"sasl.password", kPassword},
                                {"ssl.key.password", kPassword},
                                {"ssl.key.pem", "-----BEGIN PRIVATE KEY-----\nMIIE"}};
  std::string dump = RedactKafkaProperties(properties);
  EXPECT_EQ(dump,
            "sasl.password=[redacted], sasl.username=usp, security.protocol=SASL_SSL, "
            "ssl.key.password=[redacted], ssl.key.pem=[redacted]");
}

TEST(KafkaSecrets, KeepsASecretValueOutOfErrors) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // An unknown secret-looking property and a bad value of a known one.
  Status unknown = SetProperty(conf, "custom.password", kPassword);
  EXPECT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.message().find(kPassword), std::string::npos) << unknown.message();
  Status invalid = SetProperty(conf, "sasl.oauthbearer.config", kPassword);
  EXPECT_EQ(invalid.message().find(kPassword), std::string::npos) << invalid.message();
  // A non-secret bad value is shown: it helps the user.
  Status shown = SetProperty(conf, "security.protocol", "carrier-pigeon");
  EXPECT_FALSE(shown.ok());
  EXPECT_NE(shown.message().find("carrier-pigeon"), std::string::npos) << shown.message();
  rd_kafka_conf_destroy(conf);
}

class KafkaSaslEnvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv(kSaslUsernameEnv, "usp-user", 1);
    ::setenv(kSaslPasswordEnv, kPassword, 1);
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log_);
    previous_ = spdlog::default_logger();
    auto logger = std::make_shared<spdlog::logger>("capture", sink);
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(logger);
  }
  void TearDown() override {
    ::unsetenv(kSaslUsernameEnv);
    ::unsetenv(kSaslPasswordEnv);
    spdlog::set_default_logger(previous_);
  }

  std::ostringstream log_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST_F(KafkaSaslEnvTest, TakesTheCredentialsFromTheEnvironmentWithoutLoggingThem) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  ASSERT_TRUE(
      SetProperties(conf, {{"security.protocol", "SASL_PLAINTEXT"}, {"sasl.mechanism", "PLAIN"}})
          .ok());
  EXPECT_EQ(Get(conf, "sasl.username"), "usp-user");
  EXPECT_EQ(Get(conf, "sasl.password"), kPassword);
  // A client built from it (librdkafka logs its configuration problems
  // through our callbacks) never writes the password to the log.
  InstallLogAndErrorCallbacks(conf);
  ASSERT_TRUE(SetProperty(conf, "debug", "conf,security").ok());
  ASSERT_TRUE(SetProperty(conf, "bootstrap.servers", "127.0.0.1:1").ok());
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  ASSERT_NE(rk, nullptr) << errstr;
  rd_kafka_destroy(rk);
  spdlog::default_logger()->flush();
  EXPECT_FALSE(log_.str().empty()) << "expected librdkafka's debug output to be captured";
  EXPECT_EQ(log_.str().find(kPassword), std::string::npos) << log_.str();
}

TEST_F(KafkaSaslEnvTest, LetsAnExplicitPropertyWin) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  ASSERT_TRUE(SetProperties(conf, {{"sasl.username", "explicit"}}).ok());
  EXPECT_EQ(Get(conf, "sasl.username"), "explicit");
  EXPECT_EQ(Get(conf, "sasl.password"), kPassword);
  rd_kafka_conf_destroy(conf);
}

}  // namespace
}  // namespace usp::kafka_internal
