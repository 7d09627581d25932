#pragma once
// Small file helpers shared by the binaries.

#include <string>
#include <string_view>

#include "core/status.h"

namespace usp {

// Writes `content` to `path` through a temporary file and a rename, so a
// reader (a supervisor waiting for a port file, a user reading
// endpoints.json) never sees a partial file.
Status WriteFileAtomically(const std::string& path, std::string_view content);

}  // namespace usp
