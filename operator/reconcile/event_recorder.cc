#include "operator/reconcile/event_recorder.h"

#include <cstdio>

#include <spdlog/spdlog.h>

#include "operator/kube/object.h"

namespace usp::op {

using nlohmann::json;

json KubeEventRecorder::BuildEvent(const json& object, const std::string& type, const std::string& reason,
                                   const std::string& message) {
  const TimePoint now = clock_->Now();
  // Unique and sortable like client-go's "<name>.<hex nanoseconds>".
  const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  char suffix[40];
  std::snprintf(suffix, sizeof(suffix), "%llx%02llx", static_cast<unsigned long long>(nanos),
                static_cast<unsigned long long>(sequence_++ % 256));
  const std::string ns = kube::Namespace(object).empty() ? "default" : kube::Namespace(object);
  return {{"apiVersion", "v1"},
          {"kind", "Event"},
          {"metadata", {{"name", kube::Name(object) + "." + suffix}, {"namespace", ns}}},
          {"involvedObject",
           {{"apiVersion", object.value("apiVersion", "")},
            {"kind", object.value("kind", "")},
            {"name", kube::Name(object)},
            {"namespace", ns},
            {"uid", kube::Uid(object)},
            {"resourceVersion", kube::ResourceVersion(object)}}},
          {"type", type},
          {"reason", reason},
          {"message", message.size() > 1024 ? message.substr(0, 1021) + "..." : message},
          {"source", {{"component", component_}}},
          {"reportingComponent", component_},
          {"reportingInstance", instance_},
          {"firstTimestamp", FormatTime(now)},
          {"lastTimestamp", FormatTime(now)},
          {"count", 1}};
}

void KubeEventRecorder::Record(const json& object, const std::string& type, const std::string& reason,
                               const std::string& message) {
  json event = BuildEvent(object, type, reason, message);
  spdlog::info("event {} {}/{}: {} {}", type, kube::Namespace(object), kube::Name(object), reason, message);
  auto created = client_->Create(kube::CoreEvents(), event["metadata"]["namespace"], event);
  if (!created.ok()) spdlog::warn("cannot record event {}: {}", reason, created.error().ToString());
}

}  // namespace usp::op
