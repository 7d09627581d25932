#pragma once
// Percent-decoding of request targets (RFC 3986) and query strings
// (application/x-www-form-urlencoded). Pure functions.

#include <map>
#include <string>
#include <string_view>

namespace usp {

// Decodes %XX escapes; with `plus_as_space`, '+' becomes ' ' (query strings).
// Malformed escapes ("%zz", a trailing "%") are kept literally.
std::string PercentDecode(std::string_view text, bool plus_as_space);

// Splits "a=1&b=x%20y&c" into decoded pairs; a key without '=' gets "".
// A repeated key keeps its last value.
void ParseQueryString(std::string_view query, std::map<std::string, std::string>* out);

}  // namespace usp
