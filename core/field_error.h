#pragma once
// Validation errors that point at the offending field of a resource, in the
// form users see them: "spec.eventSources[0].kafkaTopic: required".

#include <string>
#include <vector>

namespace usp {

struct FieldError {
  std::string path;     // "spec.eventSources[0].kafkaTopic"
  std::string message;  // "required"
  std::string ToString() const { return path + ": " + message; }
  bool operator==(const FieldError&) const = default;
};

using FieldErrors = std::vector<FieldError>;

}  // namespace usp
