// libFuzzer target: the resource loader (YAML -> typed, validated resources).
//
// Properties, for arbitrary bytes:
//  - LoadResources never crashes, throws or hangs (libFuzzer's -timeout);
//    it returns resources or an error. Nothing is skipped: the yaml-cpp 0.7
//    loops the loader guards against (known_hang_*.yaml) are its to refuse.
//  - Every valid UserSignal / UserSegment / SessionJob round-trips through
//    its normalized form: Parse(ToJson(x)) is valid and equal to x, and the
//    normalized JSON text, loaded again as a resource file, is valid and
//    normalizes to the same text.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "core/resource_loader.h"

namespace {

[[noreturn]] void Fail(const std::string& what, std::string_view input) {
  std::fprintf(stderr, "fuzz_resource_parser: %s\ninput: %.*s\n", what.c_str(),
               static_cast<int>(input.size()), input.data());
  std::abort();
}

// The normalized form of a valid resource; nullopt when it is not one.
std::optional<nlohmann::json> Normalized(const usp::LoadedResource& r) {
  if (r.user_signal) return usp::ToJson(*r.user_signal);
  if (r.user_segment) return usp::ToJson(*r.user_segment);
  if (r.session_job) return usp::ToJson(*r.session_job);
  return std::nullopt;
}

// Parse(ToJson(x)) == x, for each kind.
template <typename T, typename ParseFn>
void CheckTypedRoundTrip(const T& value, ParseFn parse, std::string_view input) {
  usp::FieldErrors errors;
  std::optional<T> again = parse(usp::ToJson(value), &errors);
  if (!again || !errors.empty()) Fail("the normalized form does not parse as valid", input);
  if (!(*again == value)) Fail("Parse(ToJson(x)) != x", input);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto loaded = usp::LoadResources(input, "fuzz.yaml");
  if (!loaded.ok()) {
    if (loaded.status().ToString().empty()) Fail("an error without a message", input);
    return 0;
  }
  for (const usp::LoadedResource& r : loaded.value()) {
    if (r.valid() != (r.user_signal || r.user_segment || r.session_job)) {
      Fail("valid() disagrees with the typed resource of " + r.source, input);
    }
    if (r.user_signal) CheckTypedRoundTrip(*r.user_signal, usp::ParseUserSignal, input);
    if (r.user_segment) CheckTypedRoundTrip(*r.user_segment, usp::ParseUserSegment, input);
    if (r.session_job) CheckTypedRoundTrip(*r.session_job, usp::ParseSessionJob, input);

    std::optional<nlohmann::json> normalized = Normalized(r);
    if (!normalized) continue;
    // JSON is YAML: the normalized text is itself a resource file.
    // A valid resource holds UTF-8 only (the loader refuses other bytes),
    // so dump() cannot throw; if it does, libFuzzer reports the crash.
    const std::string text = normalized->dump();
    auto reloaded = usp::LoadResources(text, "normalized.yaml");
    if (!reloaded.ok()) {
      Fail("normalized form does not load: " + reloaded.status().ToString() + "\n" + text, input);
    }
    if (reloaded.value().size() != 1 || !reloaded.value()[0].valid()) {
      Fail("normalized form does not load as one valid resource\n" + text, input);
    }
    std::optional<nlohmann::json> again = Normalized(reloaded.value()[0]);
    if (!again || again->dump() != text) {
      Fail("normalized form re-serializes differently\n" + text + "\n" +
               (again ? again->dump() : std::string("<none>")),
           input);
    }
  }
  return 0;
}
