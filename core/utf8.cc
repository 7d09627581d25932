#include "core/utf8.h"

#include <utility>
#include <vector>

namespace usp {
namespace {

// The length of the well-formed UTF-8 sequence at p (1..4), or 0; when 0,
// *bad is the length of the ill-formed part to replace with one U+FFFD:
// the maximal prefix of a well-formed sequence, at least one byte (Unicode's
// "maximal subpart" practice, which nlohmann's replace handler follows too).
size_t SequenceLength(const unsigned char* p, size_t avail, size_t* bad) {
  *bad = 1;
  const unsigned char c = p[0];
  if (c < 0x80) return 1;
  size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // bounds of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // > U+10FFFF
  } else {
    return 0;
  }
  for (size_t i = 1; i < len; ++i) {
    const unsigned char min = i == 1 ? lo : 0x80;
    const unsigned char max = i == 1 ? hi : 0xBF;
    if (i >= avail || p[i] < min || p[i] > max) {
      *bad = i;
      return 0;
    }
  }
  return len;
}

}  // namespace

bool IsValidUtf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  for (size_t i = 0; i < text.size();) {
    size_t bad = 0;
    const size_t len = SequenceLength(p + i, text.size() - i, &bad);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string ReplaceInvalidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  for (size_t i = 0; i < text.size();) {
    size_t bad = 0;
    const size_t len = SequenceLength(p + i, text.size() - i, &bad);
    if (len == 0) {
      out.append("\xEF\xBF\xBD");
      i += bad;
    } else {
      out.append(text.substr(i, len));
      i += len;
    }
  }
  return out;
}

bool CheckUtf8Strings(nlohmann::json* value, const std::string& path, FieldErrors* errors) {
  bool ok = true;
  if (value->is_string()) {
    std::string& s = value->get_ref<std::string&>();
    if (!IsValidUtf8(s)) {
      errors->push_back({path.empty() ? "document" : path, "not valid UTF-8"});
      s = ReplaceInvalidUtf8(s);
      ok = false;
    }
  } else if (value->is_array()) {
    for (size_t i = 0; i < value->size(); ++i) {
      ok &= CheckUtf8Strings(&(*value)[i], path + "[" + std::to_string(i) + "]", errors);
    }
  } else if (value->is_object()) {
    std::vector<std::string> bad_keys;
    for (auto& [key, child] : value->items()) {
      std::string name = key;
      if (!IsValidUtf8(key)) {
        name = ReplaceInvalidUtf8(key);
        errors->push_back(
            {path.empty() ? "document" : path, "key \"" + name + "\" is not valid UTF-8"});
        bad_keys.push_back(key);
        ok = false;
      }
      ok &= CheckUtf8Strings(&child, path.empty() ? name : path + "." + name, errors);
    }
    // Renamed after the walk (two bad keys may now collide: the later one
    // wins; the errors above name both).
    for (const std::string& key : bad_keys) {
      nlohmann::json child = std::move((*value)[key]);
      value->erase(key);
      (*value)[ReplaceInvalidUtf8(key)] = std::move(child);
    }
  }
  return ok;
}

}  // namespace usp
