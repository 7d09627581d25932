#include "operator/kube/api_error.h"

namespace usp::kube {

ApiError ApiError::FromStatus(int code, const nlohmann::json& status_object) {
  ApiError e;
  e.code = code;
  if (status_object.is_object()) {
    e.status = status_object;
    if (auto it = status_object.find("reason"); it != status_object.end() && it->is_string()) {
      e.reason = it->get<std::string>();
    }
    if (auto it = status_object.find("message"); it != status_object.end() && it->is_string()) {
      e.message = it->get<std::string>();
    }
  }
  if (e.message.empty()) e.message = "HTTP " + std::to_string(code);
  return e;
}

std::string ApiError::ToString() const {
  if (IsTransport()) return "transport: " + message;
  std::string out = std::to_string(code);
  if (!reason.empty()) out += " " + reason;
  return out + ": " + message;
}

Status ApiError::ToStatus() const {
  if (IsTransport()) return Status::Unavailable(ToString());
  if (IsNotFound()) return Status::NotFound(ToString());
  if (code == 400 || code == 422) return Status::InvalidArgument(ToString());
  if (code >= 500 || code == 429 || code == 409 || code == 410) return Status::Unavailable(ToString());
  return Status::Internal(ToString());
}

}  // namespace usp::kube
