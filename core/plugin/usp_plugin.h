#pragma once
// The USP plug-in interface: the one header a plug-in author includes.
//
// A plug-in is a shared library that `usp-runtime worker --plugin PATH` (or
// USP_PLUGIN_PATH) loads with dlopen before it builds the job's transform. It
// exports two C entry points, both defined by USP_PLUGIN_ENTRY:
//
//   #include "core/plugin/usp_plugin.h"
//
//   USP_PLUGIN_ENTRY(registrar) {
//     registrar->AddSignalTransform("acme.clean_search", [](const usp::UserSignal& s)
//         -> usp::Result<std::unique_ptr<usp::SignalTransformPlugin>> {
//       return std::unique_ptr<usp::SignalTransformPlugin>(new CleanSearch());
//     });
//     registrar->AddSegmentLogic("acme.planner", ...);  // a usp::SegmentLogicFactory
//     return 0;
//   }
//
// and a resource names what it registered in `spec.transform`:
// - UserSignal: a SignalTransformPlugin (the seed's isValidEvent / transform);
// - UserSegment: a SegmentLogic (core/segment/segment_logic.h: the seed's
//   inSegment / start / expiration).
//
// Everything here is header-only: a plug-in needs no symbol from the host
// binary (it may link simdjson and libstdc++). It must be built with the same
// compiler and standard library as usp-runtime (C++ types cross the boundary)
// and against the same USP headers: the host refuses a plug-in whose
// usp_plugin_abi_version() differs from kUspPluginAbiVersion. Libraries are
// never unloaded. See docs/plugins.md.

#include <simdjson.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/segment/segment_logic.h"
#include "core/segment/segment_logic_registry.h"  // SegmentLogicFactory
#include "core/status.h"
#include "core/user_signal.h"

// Bumped whenever this header, SegmentLogic, SignalView, SegmentState,
// UserSignal, UserSegment, Status or Result change in a way that breaks
// binary compatibility.
#define USP_PLUGIN_ABI_VERSION 1

namespace usp {

inline constexpr uint32_t kUspPluginAbiVersion = USP_PLUGIN_ABI_VERSION;

// One decoded source event, as a signal transform plug-in sees it. Borrows
// from the worker: valid during the call only.
struct PluginEvent {
  std::string_view topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string_view payload;         // the raw Kafka message value
  simdjson::dom::element document;  // the payload, parsed: always a JSON object
};

// What SignalTransformPlugin::Transform did with the event.
enum class PluginTransformResult {
  kKeep,     // use the event as it is (*out untouched)
  kReplace,  // *out holds a JSON object: the reshaped event
  kFail,     // the event is bad: *error says why (the signal's onError applies,
             // metric reason "transform_failed")
};

// The transform of a simple UserSignal named by `spec.transform` (the seed's
// AbstractSignalTransform). For each event of one of the signal's sources the
// worker:
//   1. decodes the payload (bad JSON: not_json / not_object);
//   2. applies the source filter and `spec.filter` (false: filtered);
//   3. calls IsValidEvent: false -> filtered (counted, never an error);
//   4. extracts user id, event time and event id from the source event with
//      userIdField / eventTimeField / eventIdField (their failures keep their
//      usual reasons);
//   5. calls Transform: the event it returns (kKeep: the source event) is
//      what `spec.attributes` pointers address; without `attributes` it is
//      the record's attributes as a whole.
// One instance per SignalTransform, and a SignalTransform is used by one
// thread: methods need not be thread-safe, and may keep scratch state.
// Exceptions thrown by them are caught and count as kFail.
class SignalTransformPlugin {
 public:
  virtual ~SignalTransformPlugin() = default;

  // False: drop the event (filtered, not an error). Default: keep every event.
  virtual bool IsValidEvent(const PluginEvent& /*event*/) { return true; }

  // Reshapes the event. *out is empty on entry; with kReplace it must hold one
  // JSON object (anything else fails the event). *error is read on kFail only.
  virtual PluginTransformResult Transform(const PluginEvent& event, std::string* out,
                                          std::string* error) = 0;
};

// Builds the plug-in for one UserSignal (it may read the spec). Returns an
// error (e.g. Status::InvalidArgument) when the signal does not suit it; the
// worker then refuses to start with that message.
using SignalTransformPluginFactory =
    std::function<Result<std::unique_ptr<SignalTransformPlugin>>(const UserSignal& signal)>;

// What usp_register_plugins registers into. Implemented by the host; a
// plug-in only calls it during usp_register_plugins. Registration is
// all-or-nothing: when any name is refused (empty, duplicate, already
// registered by another plug-in) or the entry point returns non-zero, the
// host registers nothing from the library and fails to start.
class PluginRegistrar {
 public:
  // The host's kUspPluginAbiVersion.
  virtual uint32_t AbiVersion() const = 0;

  // False when the name is refused (the host reports why).
  virtual bool AddSignalTransform(std::string_view name, SignalTransformPluginFactory factory) = 0;
  virtual bool AddSegmentLogic(std::string_view name, SegmentLogicFactory factory) = 0;

  // A problem the plug-in wants in the host's error (e.g. a missing setting).
  virtual void ReportError(std::string_view message) = 0;

 protected:
  ~PluginRegistrar() = default;
};

}  // namespace usp

// The two entry points, with C linkage and default visibility (a plug-in may
// be built with -fvisibility=hidden). The host dlsym()s them.
#define USP_PLUGIN_ABI_SYMBOL "usp_plugin_abi_version"
#define USP_PLUGIN_REGISTER_SYMBOL "usp_register_plugins"

// Defines usp_plugin_abi_version() and opens the definition of
// `int usp_register_plugins(usp::PluginRegistrar* registrar)`: return 0 on
// success.
#define USP_PLUGIN_ENTRY(registrar)                                                     \
  extern "C" __attribute__((visibility("default"))) uint32_t usp_plugin_abi_version() { \
    return USP_PLUGIN_ABI_VERSION;                                                      \
  }                                                                                     \
  extern "C" __attribute__((visibility("default"))) int usp_register_plugins(           \
      ::usp::PluginRegistrar* registrar)

// The entry points' types, for the host.
using UspPluginAbiVersionFn = uint32_t (*)();
using UspRegisterPluginsFn = int (*)(usp::PluginRegistrar*);
