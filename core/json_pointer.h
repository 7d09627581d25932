#pragma once
// RFC 6901 JSON pointers addressing fields of events and records.

#include <simdjson.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace usp {

class JsonPointer {
 public:
  // The empty pointer "" addresses the whole document. Otherwise the text
  // must start with '/', and '~' must be followed by '0' or '1'.
  static Result<JsonPointer> Parse(std::string_view text);

  JsonPointer() = default;  // the whole document

  const std::string& text() const { return text_; }
  // Unescaped reference tokens ("~1" -> "/", "~0" -> "~").
  const std::vector<std::string>& tokens() const { return tokens_; }
  bool is_root() const { return tokens_.empty(); }

  // Resolves against a parsed event. Array indices are decimal without
  // leading zeros. Returns nullopt when the path does not exist.
  std::optional<simdjson::dom::element> Resolve(simdjson::dom::element doc) const;
  const nlohmann::json* Resolve(const nlohmann::json& doc) const;

  bool operator==(const JsonPointer& o) const { return text_ == o.text_; }

  // A token as an array index (RFC 6901: "0" or decimal without leading
  // zeros; "-" never resolves when reading); nullopt when it is not one.
  static std::optional<size_t> ArrayIndex(std::string_view token);

 private:
  std::string text_;
  std::vector<std::string> tokens_;
};

}  // namespace usp
