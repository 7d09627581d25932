// An example USP plug-in (docs/plugins.md). It registers:
//
// - signal transform "example.clean_search" for search events
//   (examples/plugins/clean-searches.yaml):
//     IsValidEvent: drops bot traffic (context.is_bot, or a user agent that
//       says bot / crawler / spider);
//     Transform: reshapes the event into the signal's attributes, with the
//       destination normalized ("  new   YORK " -> "New York") and a
//       lower-case key for grouping.
// - segment logic "example.planner_until_checkin"
//   (examples/plugins/planner-until-checkin.yaml): a search of the segment's
//   `enter` signals puts the user in until the later of the searched check-in
//   date (end of that day, UTC) and event time + expireAfter [14d]; a record
//   of an `exit` signal (a booking) takes them out.
//
// It uses only the header-only interface: nothing from usp-runtime.

#include <cctype>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/plugin/usp_plugin.h"

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

std::optional<element> At(element doc, std::string_view pointer) {
  element value;
  if (doc.at_pointer(pointer).get(value)) return std::nullopt;
  return value;
}

std::optional<std::string_view> StringAt(element doc, std::string_view pointer) {
  std::optional<element> value = At(doc, pointer);
  if (!value || value->type() != element_type::STRING) return std::nullopt;
  std::string_view s;
  if (value->get_string().get(s)) return std::nullopt;
  return s;
}

bool ContainsIgnoringCase(std::string_view haystack, std::string_view needle) {
  if (needle.size() > haystack.size()) return false;
  for (size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    bool match = true;
    for (size_t j = 0; j < needle.size() && match; ++j) {
      match = std::tolower(static_cast<unsigned char>(haystack[i + j])) == needle[j];
    }
    if (match) return true;
  }
  return false;
}

// Trims, collapses runs of white space and title-cases ASCII words.
std::string NormalizeDestination(std::string_view raw) {
  std::string out;
  bool word_start = true;
  for (char c : raw) {
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isspace(u)) {
      word_start = true;
      continue;
    }
    if (word_start && !out.empty()) out.push_back(' ');
    out.push_back(static_cast<char>(word_start ? std::toupper(u) : std::tolower(u)));
    word_start = c == '-';  // "saint-malo" -> "Saint-Malo"
  }
  return out;
}

void AppendString(std::string_view s, std::string* out) {
  out->push_back('"');
  for (char c : s) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\r':
        out->append("\\r");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static const char* kHex = "0123456789abcdef";
          out->append("\\u00");
          out->push_back(kHex[(c >> 4) & 0xf]);
          out->push_back(kHex[c & 0xf]);
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

// `"name":<value at pointer, or null>`
void AppendField(std::string_view name, element doc, std::string_view pointer, std::string* out) {
  if (out->size() > 1) out->push_back(',');
  AppendString(name, out);
  out->push_back(':');
  std::optional<element> value = At(doc, pointer);
  out->append(value ? simdjson::minify(*value) : std::string("null"));
}

class CleanSearch final : public usp::SignalTransformPlugin {
 public:
  bool IsValidEvent(const usp::PluginEvent& event) override {
    if (std::optional<element> is_bot = At(event.document, "/context/is_bot")) {
      bool b = false;
      if (!is_bot->get_bool().get(b) && b) return false;
    }
    if (std::optional<std::string_view> agent = StringAt(event.document, "/context/user_agent")) {
      for (std::string_view word : {"bot", "crawler", "spider"}) {
        if (ContainsIgnoringCase(*agent, word)) return false;
      }
    }
    return true;
  }

  usp::PluginTransformResult Transform(const usp::PluginEvent& event, std::string* out,
                                       std::string* error) override {
    std::optional<std::string_view> raw = StringAt(event.document, "/query/destination");
    if (!raw) {
      *error = "no destination string at /query/destination";
      return usp::PluginTransformResult::kFail;
    }
    std::string destination = NormalizeDestination(*raw);
    if (destination.empty()) {
      *error = "destination at /query/destination is blank";
      return usp::PluginTransformResult::kFail;
    }
    std::string key = destination;
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));

    out->push_back('{');
    AppendString("destination", out);
    out->push_back(':');
    AppendString(destination, out);
    out->push_back(',');
    AppendString("destination_key", out);
    out->push_back(':');
    AppendString(key, out);
    AppendField("checkin", event.document, "/query/checkin", out);
    AppendField("checkout", event.document, "/query/checkout", out);
    AppendField("guests", event.document, "/query/guests", out);
    AppendField("platform", event.document, "/context/platform", out);
    out->push_back('}');
    return usp::PluginTransformResult::kReplace;
  }
};

// "YYYY-MM-DD" -> the end of that day (the next midnight), epoch ms UTC.
std::optional<int64_t> EndOfDayMs(std::string_view date) {
  if (date.size() != 10 || date[4] != '-' || date[7] != '-') return std::nullopt;
  auto number = [&](size_t pos, size_t len) -> std::optional<int> {
    int v = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(date[i]))) return std::nullopt;
      v = v * 10 + (date[i] - '0');
    }
    return v;
  };
  std::optional<int> y = number(0, 4), m = number(5, 2), d = number(8, 2);
  if (!y || !m || !d) return std::nullopt;
  std::chrono::year_month_day ymd{std::chrono::year{*y},
                                  std::chrono::month{static_cast<unsigned>(*m)},
                                  std::chrono::day{static_cast<unsigned>(*d)}};
  if (!ymd.ok()) return std::nullopt;
  std::chrono::sys_days next = std::chrono::sys_days{ymd} + std::chrono::days{1};
  return std::chrono::duration_cast<std::chrono::milliseconds>(next.time_since_epoch()).count();
}

class PlannerUntilCheckin final : public usp::SegmentLogic {
 public:
  PlannerUntilCheckin(std::vector<std::string> enter, std::vector<std::string> exit,
                      int64_t expire_after_ms)
      : enter_(std::move(enter)), exit_(std::move(exit)), expire_after_ms_(expire_after_ms) {}

  bool IsTrigger(const usp::SignalView& signal) const override {
    return Contains(enter_, signal.signal) || Contains(exit_, signal.signal);
  }

  bool InSegment(const usp::SignalView& signal, const usp::SegmentState& state) const override {
    return !Contains(exit_, signal.signal);  // exit wins over enter
  }

  int64_t StartTime(const usp::SignalView& signal, const usp::SegmentState& state) const override {
    return signal.event_time;
  }

  std::optional<int64_t> ExpirationTime(const usp::SignalView& signal,
                                        const usp::SegmentState& state) const override {
    int64_t expiration = signal.event_time + expire_after_ms_;
    if (std::optional<std::string_view> checkin = StringAt(signal.record, "/attributes/checkin")) {
      if (std::optional<int64_t> end = EndOfDayMs(*checkin); end && *end > expiration) {
        expiration = *end;
      }
    }
    return expiration;
  }

 private:
  static bool Contains(const std::vector<std::string>& names, std::string_view name) {
    for (const std::string& n : names) {
      if (n == name) return true;
    }
    return false;
  }

  std::vector<std::string> enter_;
  std::vector<std::string> exit_;
  int64_t expire_after_ms_;
};

constexpr int64_t kFourteenDaysMs = 14LL * 24 * 3600 * 1000;

}  // namespace

USP_PLUGIN_ENTRY(registrar) {
  bool ok = registrar->AddSignalTransform(
      "example.clean_search",
      [](const usp::UserSignal& signal)
          -> usp::Result<std::unique_ptr<usp::SignalTransformPlugin>> {
        if (!signal.spec.attributes.empty()) {
          return usp::Status::InvalidArgument(
              "example.clean_search writes the attributes itself: leave spec.attributes out");
        }
        return std::unique_ptr<usp::SignalTransformPlugin>(std::make_unique<CleanSearch>());
      });
  ok = registrar->AddSegmentLogic(
           "example.planner_until_checkin",
           [](const usp::UserSegment& segment) -> usp::Result<std::unique_ptr<usp::SegmentLogic>> {
             std::vector<std::string> exit;
             if (segment.spec.exit) exit = segment.spec.exit->signals;
             return std::unique_ptr<usp::SegmentLogic>(std::make_unique<PlannerUntilCheckin>(
                 segment.spec.enter.signals, std::move(exit),
                 segment.spec.expire_after_ms.value_or(kFourteenDaysMs)));
           }) &&
       ok;
  return ok ? 0 : 1;
}
