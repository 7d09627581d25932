#include "runtime/store/signal_key.h"

namespace usp {

namespace {

constexpr uint64_t kSignBit = uint64_t{1} << 63;

void AppendU64(uint64_t v, std::string* out) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

uint64_t DecodeU64(std::string_view b) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(b[i]);
  return v;
}

void AppendString(std::string_view s, std::string* out) {
  AppendU32(static_cast<uint32_t>(s.size()), out);
  out->append(s);
}

// Reads a length-prefixed string at *pos; false when it runs past the end.
bool ReadString(std::string_view key, size_t* pos, std::string_view* out) {
  if (key.size() - *pos < 4) return false;
  uint32_t len = DecodeU32(key.substr(*pos, 4));
  *pos += 4;
  if (key.size() - *pos < len) return false;
  *out = key.substr(*pos, len);
  *pos += len;
  return true;
}

}  // namespace

void AppendU32(uint32_t v, std::string* out) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

uint32_t DecodeU32(std::string_view b) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(b[i]);
  return v;
}

void AppendInvertedTime(int64_t t, std::string* out) {
  AppendU64(~(static_cast<uint64_t>(t) ^ kSignBit), out);
}

int64_t DecodeInvertedTime(std::string_view eight_bytes) {
  return static_cast<int64_t>(~DecodeU64(eight_bytes) ^ kSignBit);
}

std::string EncodeUserPrefix(int32_t partition, std::string_view user_id) {
  std::string out;
  out.reserve(8 + user_id.size() + 8);
  AppendU32(static_cast<uint32_t>(partition), &out);
  AppendString(user_id, &out);
  return out;
}

std::string EncodeUserTimeKey(int32_t partition, std::string_view user_id, int64_t event_time) {
  std::string out = EncodeUserPrefix(partition, user_id);
  AppendInvertedTime(event_time, &out);
  return out;
}

std::string EncodeRowKey(int32_t partition, const SignalRecord& record) {
  std::string out;
  out.reserve(36 + record.user_id.size() + record.signal.size() + record.event_id.size());
  AppendU32(static_cast<uint32_t>(partition), &out);
  AppendString(record.user_id, &out);
  AppendInvertedTime(record.event_time, &out);
  AppendString(record.signal, &out);
  AppendString(record.event_id, &out);
  AppendInvertedTime(record.version, &out);
  return out;
}

std::string EncodeRowValue(const SignalRecord& record) {
  std::string out;
  out.reserve(1 + record.attributes_json.size());
  out.push_back(kRowFormatV1);
  out.append(record.attributes_json);
  return out;
}

std::optional<RowKeySuffix> DecodeRowKeySuffix(std::string_view key, size_t prefix_size) {
  if (key.size() < prefix_size + 8) return std::nullopt;
  size_t pos = prefix_size;
  RowKeySuffix out;
  out.event_time = DecodeInvertedTime(key.substr(pos, 8));
  pos += 8;
  if (!ReadString(key, &pos, &out.signal)) return std::nullopt;
  if (!ReadString(key, &pos, &out.event_id)) return std::nullopt;
  if (key.size() - pos != 8) return std::nullopt;
  out.version = DecodeInvertedTime(key.substr(pos, 8));
  return out;
}

std::optional<std::string_view> DecodeRowValue(std::string_view value) {
  if (value.empty() || value[0] != kRowFormatV1) return std::nullopt;
  return value.substr(1);
}

std::string EncodeSegmentKey(int32_t partition, const SegmentRecord& record) {
  std::string out;
  out.reserve(32 + record.user_id.size() + record.segment.size());
  AppendU32(static_cast<uint32_t>(partition), &out);
  AppendString(record.user_id, &out);
  AppendString(record.segment, &out);
  AppendInvertedTime(record.start, &out);
  AppendInvertedTime(record.version, &out);
  return out;
}

std::string EncodeSegmentValue(const SegmentRecord& record) {
  std::string out;
  out.reserve(12);
  out.push_back(kRowFormatV1);
  out.push_back(record.in_segment ? 1 : 0);
  out.push_back(static_cast<char>(record.reason));
  out.push_back(record.expiration ? 1 : 0);
  AppendU64(static_cast<uint64_t>(record.expiration.value_or(0)), &out);
  return out;
}

bool DecodeSegmentRow(std::string_view key, size_t prefix_size, std::string_view value,
                      SegmentRecord* record) {
  if (key.size() < prefix_size) return false;
  size_t pos = prefix_size;
  std::string_view segment;
  if (!ReadString(key, &pos, &segment)) return false;
  if (key.size() - pos != 16) return false;
  if (value.size() != 12 || value[0] != kRowFormatV1) return false;
  uint8_t reason = static_cast<uint8_t>(value[2]);
  if (reason > static_cast<uint8_t>(SegmentReason::kExpired)) return false;
  record->segment.assign(segment);
  record->start = DecodeInvertedTime(key.substr(pos, 8));
  record->version = DecodeInvertedTime(key.substr(pos + 8, 8));
  record->in_segment = value[1] != 0;
  record->reason = static_cast<SegmentReason>(reason);
  if (value[3] != 0) {
    record->expiration = static_cast<int64_t>(DecodeU64(value.substr(4, 8)));
  } else {
    record->expiration.reset();
  }
  return true;
}

std::string EncodeSessionKey(int32_t partition, const SessionRecord& record) {
  std::string out;
  out.reserve(40 + record.user_id.size() + record.job.size());
  AppendU32(static_cast<uint32_t>(partition), &out);
  AppendString(record.user_id, &out);
  AppendInvertedTime(record.window_end, &out);
  AppendString(record.job, &out);
  AppendInvertedTime(record.window_start, &out);
  AppendInvertedTime(record.version, &out);
  return out;
}

std::string EncodeSessionValue(const SessionRecord& record) {
  std::string out;
  out.reserve(6 + record.aggregations_json.size() +
              (record.async_result_json ? record.async_result_json->size() : 0));
  out.push_back(kRowFormatV1);
  AppendString(record.aggregations_json, &out);
  if (record.async_result_json) {
    out.push_back(1);
    out.append(*record.async_result_json);
  } else {
    out.push_back(0);
  }
  return out;
}

bool DecodeSessionRow(std::string_view key, size_t prefix_size, std::string_view value,
                      SessionRecord* record) {
  if (key.size() < prefix_size + 8) return false;
  size_t pos = prefix_size;
  int64_t window_end = DecodeInvertedTime(key.substr(pos, 8));
  pos += 8;
  std::string_view job;
  if (!ReadString(key, &pos, &job)) return false;
  if (key.size() - pos != 16) return false;
  if (value.empty() || value[0] != kRowFormatV1) return false;
  size_t vpos = 1;
  std::string_view aggregations;
  if (!ReadString(value, &vpos, &aggregations)) return false;
  if (vpos >= value.size()) return false;
  bool has_async = value[vpos] != 0;
  ++vpos;
  if (!has_async && vpos != value.size()) return false;
  record->job.assign(job);
  record->window_end = window_end;
  record->window_start = DecodeInvertedTime(key.substr(pos, 8));
  record->version = DecodeInvertedTime(key.substr(pos + 8, 8));
  record->aggregations_json.assign(aggregations);
  if (has_async) {
    record->async_result_json = std::string(value.substr(vpos));
  } else {
    record->async_result_json.reset();
  }
  return true;
}

}  // namespace usp
