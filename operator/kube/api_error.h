#pragma once
// Errors of Kubernetes API calls. An API error (the server answered with a
// non-2xx code and usually a Status object) is distinguishable from a
// transport error (no answer: connection refused, TLS, timeout), because
// callers react differently: 404 means "absent", 409 "re-read and retry",
// 410 "relist", a transport error "back off and try again".

#include <string>
#include <utility>
#include <variant>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace usp::kube {

struct ApiError {
  // 0 for a transport error; otherwise the HTTP status code (404, 409, 410, 422...).
  int code = 0;
  // Status.reason when the server sent one ("NotFound", "Conflict",
  // "AlreadyExists", "Expired", "Gone", "Invalid"); empty otherwise.
  std::string reason;
  std::string message;
  // The Status object the server returned (null when there was none).
  nlohmann::json status;

  static ApiError Transport(std::string message) { return {0, "", std::move(message), nullptr}; }
  static ApiError FromStatus(int code, const nlohmann::json& status_object);

  bool IsTransport() const { return code == 0; }
  bool IsNotFound() const { return code == 404; }
  bool IsConflict() const { return code == 409 && reason != "AlreadyExists"; }
  bool IsAlreadyExists() const { return code == 409 && reason == "AlreadyExists"; }
  bool IsGone() const { return code == 410; }
  bool IsInvalid() const { return code == 422; }
  // "409 Conflict: the object has been modified" / "transport: connection refused".
  std::string ToString() const;
  // Maps to a core Status for callers that only report the error.
  Status ToStatus() const;
};

// A value or the ApiError explaining why there is none.
template <typename T>
class [[nodiscard]] KubeResult {
 public:
  KubeResult(T value) : v_(std::move(value)) {}          // NOLINT: implicit by design
  KubeResult(ApiError error) : v_(std::move(error)) {}   // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(v_); }
  const ApiError& error() const { return std::get<ApiError>(v_); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &std::get<T>(v_); }
  const T* operator->() const { return &std::get<T>(v_); }
  T& operator*() & { return std::get<T>(v_); }
  const T& operator*() const& { return std::get<T>(v_); }

 private:
  std::variant<T, ApiError> v_;
};

using JsonResult = KubeResult<nlohmann::json>;

}  // namespace usp::kube
