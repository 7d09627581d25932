#pragma once
// Structured JSON logs on stderr, one object per line:
// {"ts":"2026-11-22T10:00:00.123Z","level":"info","component":"worker","job":"searches","msg":"..."}
// Components log through spdlog's default logger after InitLogging().

#include <string>

namespace usp {

// `component` ("worker", "serve", "uspctl") and `job` (may be empty) are put
// on every line. Level from USP_LOG_LEVEL (trace debug info warn error), default info.
void InitLogging(const std::string& component, const std::string& job = "");

// Escapes a value for embedding in the JSON "msg" (log messages are built
// with fmt and may contain user data).
std::string JsonEscapeForLog(const std::string& text);

}  // namespace usp
