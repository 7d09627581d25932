#include "runtime/worker/dead_letter.h"

#include <algorithm>

#include "core/signal_record.h"

namespace usp {

void BuildDeadLetter(const DeadLetterOrigin& origin, std::string_view payload, int64_t now_ms,
                     size_t max_record_bytes, size_t payload_prefix, std::string* out) {
  out->clear();
  out->append("{\"source_topic\":");
  AppendJsonString(origin.source_topic, out);
  out->append(",\"source_partition\":").append(std::to_string(origin.source_partition));
  out->append(",\"source_offset\":").append(std::to_string(origin.source_offset));
  out->append(",\"signal\":");
  AppendJsonString(origin.job, out);
  out->append(",\"error\":{\"reason\":");
  AppendJsonString(origin.reason, out);
  out->append(",\"message\":");
  AppendJsonString(origin.message, out);
  out->append("},\"payload\":");
  const size_t payload_at = out->size();
  AppendJsonString(payload, out);
  // Room for the key and the fields below.
  constexpr size_t kTail = 512;
  if (out->size() + kTail > max_record_bytes) {
    // Escaping can grow the prefix up to 6x: shrink it until it fits.
    size_t keep = std::min(payload_prefix, payload.size());
    while (true) {
      out->resize(payload_at);
      AppendJsonString(payload.substr(0, keep), out);
      if (out->size() + kTail <= max_record_bytes || keep == 0) break;
      keep /= 2;
    }
    out->append(",\"payload_truncated\":true,\"payload_bytes\":");
    out->append(std::to_string(payload.size()));
  }
  out->append(",\"time\":").append(std::to_string(now_ms)).append("}");
}

}  // namespace usp
