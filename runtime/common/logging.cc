#include "runtime/common/logging.h"

#include <cstdlib>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "core/signal_record.h"

namespace usp {

namespace {

// Formats the message as a JSON string so that quotes and newlines in user
// data cannot break the one-object-per-line contract.
class JsonMessageFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string escaped;
    AppendJsonString(std::string_view(msg.payload.data(), msg.payload.size()), &escaped);
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

}  // namespace

void InitLogging(const std::string& component, const std::string& job) {
  spdlog::drop("usp");  // InitLogging may run more than once per process (tests)
  auto logger = spdlog::stderr_logger_mt("usp");
  std::string prefix = R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","component":")" + component + "\"";
  if (!job.empty()) prefix += R"(,"job":")" + job + "\"";
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  formatter->add_flag<JsonMessageFlag>('*').set_pattern(prefix + R"(,"msg":%*})");
  logger->set_formatter(std::move(formatter));
  const char* level = std::getenv("USP_LOG_LEVEL");
  logger->set_level(level ? spdlog::level::from_str(level) : spdlog::level::info);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

std::string JsonEscapeForLog(const std::string& text) {
  std::string out;
  AppendJsonString(text, &out);
  return out.substr(1, out.size() - 2);
}

}  // namespace usp
