#pragma once
// Reads resource files (YAML, possibly multi-document, as `kubectl apply -f`
// takes them) into typed resources with field-path errors.

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/field_error.h"
#include "core/status.h"
#include "core/segment/user_segment.h"
#include "core/session/session_job.h"
#include "core/user_signal.h"

namespace usp {

struct LoadedResource {
  std::string source;                     // "examples/searches.yaml#0" (file and document index)
  std::string kind;                       // "UserSignal", ...
  std::string name;                       // metadata.name, may be empty when invalid
  nlohmann::json document;                // the document as JSON
  std::optional<UserSignal> user_signal;    // set when kind == UserSignal and valid
  std::optional<UserSegment> user_segment;  // set when kind == UserSegment and valid
  std::optional<SessionJob> session_job;    // set when kind == SessionJob and valid
  FieldErrors errors;                     // empty when valid
  bool valid() const { return errors.empty(); }
};

// YAML -> JSON with YAML 1.2 core-schema scalars: plain scalars that look
// like ints, floats, true/false or null become those; quoted scalars stay
// strings. Errors (syntax) carry the line and column.
Result<std::vector<nlohmann::json>> YamlDocumentsToJson(std::string_view yaml);

// Parses every document. The result holds one entry per non-empty document;
// syntax errors make the whole call fail. Checks apiVersion ("usp.dev/v1alpha1")
// and kind (UserSignal, UserSegment, SessionJob).
Result<std::vector<LoadedResource>> LoadResources(std::string_view yaml, const std::string& source);

// A file, or every *.yaml / *.yml file of a directory (sorted, not recursive).
// Duplicate kind/name pairs across files are reported as errors on the later one.
Result<std::vector<LoadedResource>> LoadResourcesFromPath(const std::filesystem::path& path);

}  // namespace usp
