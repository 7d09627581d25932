// libFuzzer target: the simple-signal transform's input path and the signal
// record codec.
//
// Properties, for arbitrary bytes:
//  - SignalTransform::Apply (a UserSignal like examples/searches.yaml) never
//    crashes; a failure always carries a reason; an emitted record
//    serializes and parses back to an equal record.
//  - ParseSignalRecord never crashes; any record that parses serializes and
//    re-parses to an equal record, and the serialization is a fixed point.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "core/resource_loader.h"
#include "core/signal_record.h"
#include "core/signal_transform.h"

namespace {

constexpr std::string_view kSignalYaml = R"(
apiVersion: usp.dev/v1alpha1
kind: UserSignal
metadata:
  name: searches
spec:
  type: simple
  eventSources:
    - kafkaTopic: events.search
  userIdField: /user_id
  eventTimeField: /event_time
  eventIdField: /event_id
  filter:
    field: /query/destination
    op: exists
  attributes:
    destination: /query/destination
    checkin: /query/checkin
    guests: /query/guests
    platform: /context/platform
  onError: deadLetter
  retention: 30d
)";

[[noreturn]] void Fail(const std::string& what, std::string_view input) {
  std::fprintf(stderr, "fuzz_event_decoder: %s\ninput: %.*s\n", what.c_str(),
               static_cast<int>(input.size()), input.data());
  std::abort();
}

usp::SignalTransform* Transform() {
  static usp::SignalTransform* transform = [] {
    auto loaded = usp::LoadResources(kSignalYaml, "fuzz_event_decoder");
    if (!loaded.ok() || loaded.value().size() != 1 || !loaded.value()[0].user_signal) {
      Fail("the built-in UserSignal does not load", kSignalYaml);
    }
    auto created = usp::SignalTransform::Create(*loaded.value()[0].user_signal);
    if (!created.ok()) Fail("SignalTransform::Create: " + created.status().ToString(), "");
    return created.value().release();
  }();
  return transform;
}

void CheckRoundTrip(const usp::SignalRecord& record, std::string_view input) {
  std::string text = usp::SerializeSignalRecord(record);
  auto again = usp::ParseSignalRecord(text);
  if (!again.ok()) Fail("serialized record does not parse: " + again.status().ToString() +
                            "\nserialized: " + text, input);
  if (!(again.value() == record)) Fail("round trip changed the record\nserialized: " + text, input);
  if (usp::SerializeSignalRecord(again.value()) != text) {
    Fail("serialization is not a fixed point\nserialized: " + text, input);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);

  usp::SourceEvent event{"events.search", 3, 42, input};
  usp::SignalRecord record;
  usp::TransformError error;
  switch (Transform()->Apply(event, 1700000000000, &record, &error)) {
    case usp::TransformOutcome::kEmitted:
      if (record.user_id.empty()) Fail("emitted a record without a user id", input);
      if (record.signal != "searches") Fail("emitted a record of another signal", input);
      CheckRoundTrip(record, input);
      break;
    case usp::TransformOutcome::kFailed:
      if (error.reason.empty()) Fail("failed without a reason", input);
      break;
    case usp::TransformOutcome::kFiltered:
      break;
  }

  auto parsed = usp::ParseSignalRecord(input);
  if (parsed.ok()) CheckRoundTrip(parsed.value(), input);
  return 0;
}
