#include "core/json_pointer.h"

namespace usp {

std::optional<size_t> JsonPointer::ArrayIndex(std::string_view token) {
  if (token.empty() || token.size() > 18) return std::nullopt;
  if (token.size() > 1 && token[0] == '0') return std::nullopt;
  size_t index = 0;
  for (char c : token) {
    if (c < '0' || c > '9') return std::nullopt;
    index = index * 10 + static_cast<size_t>(c - '0');
  }
  return index;
}

Result<JsonPointer> JsonPointer::Parse(std::string_view text) {
  JsonPointer pointer;
  pointer.text_.assign(text);
  if (text.empty()) return pointer;
  if (text[0] != '/') {
    return Status::InvalidArgument("must be empty or start with '/'");
  }
  std::string token;
  for (size_t i = 1; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == '/') {
      pointer.tokens_.push_back(std::move(token));
      token.clear();
      continue;
    }
    if (text[i] == '~') {
      if (i + 1 < text.size() && text[i + 1] == '0') {
        token.push_back('~');
      } else if (i + 1 < text.size() && text[i + 1] == '1') {
        token.push_back('/');
      } else {
        return Status::InvalidArgument("'~' must be followed by '0' or '1'");
      }
      ++i;
      continue;
    }
    token.push_back(text[i]);
  }
  return pointer;
}

std::optional<simdjson::dom::element> JsonPointer::Resolve(simdjson::dom::element doc) const {
  simdjson::dom::element current = doc;
  for (const std::string& token : tokens_) {
    switch (current.type()) {
      case simdjson::dom::element_type::OBJECT: {
        simdjson::dom::object obj;
        if (current.get_object().get(obj)) return std::nullopt;
        if (obj.at_key(token).get(current)) return std::nullopt;
        break;
      }
      case simdjson::dom::element_type::ARRAY: {
        const std::optional<size_t> index = ArrayIndex(token);
        if (!index) return std::nullopt;
        simdjson::dom::array arr;
        if (current.get_array().get(arr)) return std::nullopt;
        if (arr.at(*index).get(current)) return std::nullopt;
        break;
      }
      default:
        return std::nullopt;
    }
  }
  return current;
}

const nlohmann::json* JsonPointer::Resolve(const nlohmann::json& doc) const {
  const nlohmann::json* current = &doc;
  for (const std::string& token : tokens_) {
    if (current->is_object()) {
      auto it = current->find(token);
      if (it == current->end()) return nullptr;
      current = &*it;
    } else if (current->is_array()) {
      const std::optional<size_t> index = ArrayIndex(token);
      if (!index || *index >= current->size()) return nullptr;
      current = &(*current)[*index];
    } else {
      return nullptr;
    }
  }
  return current;
}

}  // namespace usp
