#pragma once
// Records a worker cannot send as they are, and the dead letter that takes
// their place. Shared by the simple-signal worker (signal_worker.h) and the
// stateful worker (runtime/stateful/stateful_worker.h), so both refuse the
// same records and write the same dead-letter format:
//
//   {"source_topic", "source_partition", "source_offset", "signal",
//    "error": {"reason", "message"}, "payload",
//    ["payload_truncated": true, "payload_bytes": N,] "time"}
//
// Pure functions; thread-safe.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace usp {

// librdkafka's default message.max.bytes: the producer refuses a larger
// record (key + value) outright, which would stop the worker.
inline constexpr size_t kDefaultMaxRecordBytes = 1000000;
// How much of an oversized payload a dead letter keeps.
inline constexpr size_t kDefaultDeadLetterPayloadPrefix = 64 * 1024;

// True when a record with `key` and `value` is over `max_record_bytes`.
inline bool RecordTooLarge(std::string_view key, std::string_view value,
                           size_t max_record_bytes) {
  return key.size() + value.size() > max_record_bytes;
}

// What a dead letter says about the record it replaces.
struct DeadLetterOrigin {
  std::string_view source_topic;
  int32_t source_partition = 0;
  int64_t source_offset = -1;  // -1: not from one source record (a timer's output)
  std::string_view job;        // the "signal" field: the resource's name
  std::string_view reason;     // e.g. "output_too_large"
  std::string_view message;
};

// Replaces *out with the dead letter of `payload`. When the whole payload
// would not fit in `max_record_bytes` (with room for a key), only its first
// `payload_prefix` bytes are kept (fewer if even those would not fit), with
// "payload_truncated": true and "payload_bytes": payload.size(); the source
// topic, partition and offset name the full record.
void BuildDeadLetter(const DeadLetterOrigin& origin, std::string_view payload, int64_t now_ms,
                     size_t max_record_bytes, size_t payload_prefix, std::string* out);

}  // namespace usp
