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

}  // namespace usp
