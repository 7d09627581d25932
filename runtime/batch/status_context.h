#pragma once
// `context: message` with the code of `s` (Status keeps its constructor
// private; errors here name the flag or input they come from).

#include <string>

#include "core/status.h"

namespace usp {

inline Status WithContext(const Status& s, const std::string& context) {
  std::string m = context + ": " + s.message();
  switch (s.code()) {
    case Status::Code::kOk:
      return s;
    case Status::Code::kInvalidArgument:
      return Status::InvalidArgument(std::move(m));
    case Status::Code::kNotFound:
      return Status::NotFound(std::move(m));
    case Status::Code::kUnavailable:
      return Status::Unavailable(std::move(m));
    case Status::Code::kIoError:
      return Status::IoError(std::move(m));
    case Status::Code::kInternal:
      break;
  }
  return Status::Internal(std::move(m));
}

}  // namespace usp
