#pragma once
// The session record: what session output topics carry and
// /v1/users/{id}/sessions returns.
// {"user_id", "job", "window_start", "window_end", "aggregations": {...},
//  "async_result"?, "version"}
// Conventions as core/signal_record.h: canonical compact JSON, keys in this
// order, times in epoch ms, version = processing time (newer wins).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace usp {

struct SessionRecord {
  std::string user_id;
  std::string job;                // the SessionJob's name
  int64_t window_start = 0;       // epoch ms, inclusive
  int64_t window_end = 0;         // epoch ms, exclusive
  std::string aggregations_json;  // a JSON object, compact text
  // The asyncCompute service's answer (any JSON value, compact text); absent
  // until it answered.
  std::optional<std::string> async_result_json;
  int64_t version = 0;

  bool operator==(const SessionRecord&) const = default;
};

// Canonical compact JSON; `async_result` only when present. Appends to *out.
void AppendSessionRecordJson(const SessionRecord& record, std::string* out);
std::string SerializeSessionRecord(const SessionRecord& record);

// Accepts any key order; `aggregations` must be an object. Unknown keys are
// ignored (newer writers may add fields).
Result<SessionRecord> ParseSessionRecord(std::string_view json);

}  // namespace usp
