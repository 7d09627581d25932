#include "runtime/query/partition_list.h"

#include <algorithm>
#include <charconv>
#include <string>

namespace usp {

namespace {

bool ParseNumber(std::string_view text, int32_t* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size() && *out >= 0;
}

}  // namespace

Result<std::vector<int32_t>> ParsePartitionList(std::string_view text) {
  std::vector<int32_t> out;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    size_t dash = item.find('-');
    int32_t first = 0;
    int32_t last = 0;
    bool ok = dash == std::string_view::npos
                  ? ParseNumber(item, &first) && ParseNumber(item, &last)
                  : ParseNumber(item.substr(0, dash), &first) &&
                        ParseNumber(item.substr(dash + 1), &last) && first <= last;
    if (!ok) {
      return Status::InvalidArgument("bad partition '" + std::string(item) +
                                     "': expected N or N-M (N <= M), e.g. 0,1,4-7");
    }
    if (last - first > 100000) return Status::InvalidArgument("partition range too large");
    for (int32_t p = first; p <= last; ++p) out.push_back(p);
  }
  if (out.empty()) return Status::InvalidArgument("empty partition list");
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace usp
