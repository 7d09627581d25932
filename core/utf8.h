#pragma once
// UTF-8 checks for text we did not write (resource files, events).
//
// JSON text is UTF-8 (RFC 8259), and nlohmann::json::dump() throws
// (type_error 316) on a string that is not, unless told to replace.
// The rule (docs in core/README.md): resources are checked when they are
// loaded (a field-path error per bad string); data we do not control
// (events, records, dead letters) is written with invalid bytes replaced by
// U+FFFD, so writing it cannot fail.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/field_error.h"


namespace usp {

// True when `text` is well-formed UTF-8 (RFC 3629: shortest form, no
// surrogates, at most U+10FFFF).
bool IsValidUtf8(std::string_view text);

// `text` with each ill-formed part (the longest prefix of a well-formed
// sequence, else one byte) replaced by U+FFFD, as nlohmann's
// error_handler_t::replace does.
std::string ReplaceInvalidUtf8(std::string_view text);

// Appends one "<path>: not valid UTF-8" error per string value, and one
// "<path>: key "<key>" is not valid UTF-8" per object key, of `value` that
// is not UTF-8, then replaces the bad bytes in place so that `value` can be
// dumped. Paths look like "spec.attributes[2].name" (`path` is the prefix of
// `value`, "" for a document). Returns true when nothing was wrong.
bool CheckUtf8Strings(nlohmann::json* value, const std::string& path, FieldErrors* errors);

}  // namespace usp
