#pragma once
// The byte layout of signal rows in the store. Pure functions, no RocksDB.
//
// Row key (all integers big-endian, strings length-prefixed with a u32):
//
//   partition:u32 | len(user):u32 user | ~event_time:u64 | len(signal):u32 signal |
//   len(event_id):u32 event_id | ~version:u64
//
// - partition = murmur2(user_id) % partitions: a shard that owns a set of
//   partitions holds contiguous key ranges.
// - The length prefix on the user id keeps users apart whose ids are
//   prefixes of each other ("u1" vs "u10").
// - Times are int64 mapped to order-preserving u64 (sign bit flipped) and
//   then inverted, so a forward scan meets the newest event first and, for
//   one identity (event time, signal, event id), the newest version first.
//
// Row value: a format byte (kRowFormatV1) followed by the attributes JSON.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/segment/segment_record.h"
#include "core/session/session_record.h"
#include "core/signal_record.h"

namespace usp {

inline constexpr char kRowFormatV1 = 1;

// partition | len(user) user: every row of one user starts with this.
std::string EncodeUserPrefix(int32_t partition, std::string_view user_id);

// EncodeUserPrefix() followed by the inverted event time: seeking here
// lands on the newest row with event_time <= `event_time`.
std::string EncodeUserTimeKey(int32_t partition, std::string_view user_id, int64_t event_time);

std::string EncodeRowKey(int32_t partition, const SignalRecord& record);
std::string EncodeRowValue(const SignalRecord& record);

// The parts of a row key after the user prefix. Views into the key.
struct RowKeySuffix {
  int64_t event_time = 0;
  std::string_view signal;
  std::string_view event_id;
  int64_t version = 0;
};

// Decodes the part of a row key after a user prefix of `prefix_size` bytes.
// nullopt when the key is malformed.
std::optional<RowKeySuffix> DecodeRowKeySuffix(std::string_view key, size_t prefix_size);

// The attributes JSON of a row value; nullopt for an unknown format.
std::optional<std::string_view> DecodeRowValue(std::string_view value);

// ---- Segment rows (column family "segments") ----
//
//   partition:u32 | len(user):u32 user | len(segment):u32 segment | ~start:u64 | ~version:u64
//   value = kRowFormatV1 | in_segment:u8 | reason:u8 | has_expiration:u8 | expiration:i64
//
// One user's memberships of one segment are adjacent, latest start first,
// and each membership's versions newest first.
std::string EncodeSegmentKey(int32_t partition, const SegmentRecord& record);
std::string EncodeSegmentValue(const SegmentRecord& record);
// Decodes a segment row (key with a user prefix of `prefix_size` bytes) into
// *record (user_id is left untouched). False when malformed.
bool DecodeSegmentRow(std::string_view key, size_t prefix_size, std::string_view value,
                      SegmentRecord* record);

// ---- Session rows (column family "sessions") ----
//
//   partition:u32 | len(user):u32 user | ~window_end:u64 | len(job):u32 job |
//   ~window_start:u64 | ~version:u64
//   value = kRowFormatV1 | len(aggregations):u32 aggregations | has_async:u8 [async_result]
//
// A forward scan meets the newest window_end first and, per window, the
// newest version first.
std::string EncodeSessionKey(int32_t partition, const SessionRecord& record);
std::string EncodeSessionValue(const SessionRecord& record);
bool DecodeSessionRow(std::string_view key, size_t prefix_size, std::string_view value,
                      SessionRecord* record);

// Order-preserving, inverted encoding of an int64 (newer sorts first).
void AppendInvertedTime(int64_t t, std::string* out);
int64_t DecodeInvertedTime(std::string_view eight_bytes);

void AppendU32(uint32_t v, std::string* out);
uint32_t DecodeU32(std::string_view four_bytes);

}  // namespace usp
