#pragma once
// Test-only: a fresh directory under the system temp dir, removed with
// everything in it when the object goes out of scope.

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace usp::testing {

class TempDir {
 public:
  // `prefix` names the directory (<tmp>/<prefix>-XXXXXX) so leftovers say whose they are.
  explicit TempDir(const std::string& prefix = "usp-test") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace usp::testing
