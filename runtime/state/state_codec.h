#pragma once
// Small binary encoding helpers for state values (the state envelope of the
// stateful worker, the left join's state): varints, fixed 64-bit little
// endian integers and length-prefixed byte strings. Readers consume from the
// front of a string_view and return false (leaving it unspecified) when the
// input is too short or malformed; they never read past its end.

#include <cstdint>
#include <string>
#include <string_view>

namespace usp::state_codec {

inline void PutVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

inline bool GetVarint(std::string_view* in, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift <= 63 && !in->empty(); shift += 7) {
    const auto byte = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  return false;
}

inline void PutFixed64(int64_t v, std::string* out) {
  const auto u = static_cast<uint64_t>(v);
  for (int shift = 0; shift < 64; shift += 8) out->push_back(static_cast<char>(u >> shift));
}

inline bool GetFixed64(std::string_view* in, int64_t* v) {
  if (in->size() < 8) return false;
  uint64_t u = 0;
  for (int b = 7; b >= 0; --b) u = (u << 8) | static_cast<uint8_t>((*in)[b]);
  in->remove_prefix(8);
  *v = static_cast<int64_t>(u);
  return true;
}

inline void PutBytes(std::string_view bytes, std::string* out) {
  PutVarint(bytes.size(), out);
  out->append(bytes);
}

inline bool GetBytes(std::string_view* in, std::string_view* bytes) {
  uint64_t len = 0;
  if (!GetVarint(in, &len) || len > in->size()) return false;
  *bytes = in->substr(0, len);
  in->remove_prefix(len);
  return true;
}

}  // namespace usp::state_codec
