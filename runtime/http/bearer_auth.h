#pragma once
// BearerAuth: the query API's token check. A request passes when it carries
// `Authorization: Bearer <token>` with one of the tokens of a token file, or
// when its path is public (health probes, optionally /metrics).
//
// Token file: one token per line; surrounding whitespace is trimmed, blank
// lines and lines starting with '#' are ignored. The file is re-read when its
// modification time, size or inode change (a rotated Kubernetes Secret), but
// checked at most once per `reload_interval`: no restart is needed. A
// re-read that fails (file missing or unreadable) keeps the previous tokens;
// a re-read that finds no token denies every request (fail closed). Both are
// logged with the path and the token count, never a token.
//
// Tokens are kept only as SHA-256 digests and compared in constant time
// (every digest is compared, CRYPTO_memcmp), so timing reveals neither a
// token nor which token matched.
//
// Thread-safe: Check() runs concurrently on the HTTP server's threads.

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "runtime/http/http_server.h"

namespace usp {

struct BearerAuthOptions {
  // Exact paths that need no token [/healthz, /readyz, /metrics].
  std::vector<std::string> public_paths = {"/healthz", "/readyz", "/metrics"};
  // The file is checked for changes at most this often [5s].
  std::chrono::milliseconds reload_interval{5000};
  // Monotonic clock; default std::chrono::steady_clock::now.
  std::function<std::chrono::steady_clock::time_point()> now;
};

// The tokens of a token file's text, in order (see the file format above).
std::vector<std::string> ParseTokenFile(std::string_view text);

class BearerAuth {
 public:
  // Reads the token file. Errors: NotFound/IoError when it cannot be read,
  // InvalidArgument when it holds no token.
  static Result<std::unique_ptr<BearerAuth>> FromFile(const std::string& path,
                                                      BearerAuthOptions options = {});

  // nullopt when the request may proceed; otherwise the 401 response
  // (`WWW-Authenticate: Bearer ...`, JSON error code "unauthorized").
  std::optional<HttpResponse> Check(const HttpRequest& request);

  // Tokens currently accepted (after any due reload).
  size_t token_count();

 private:
  using Digest = std::array<unsigned char, 32>;
  struct FileVersion {
    int64_t mtime_ns = 0;
    int64_t size = 0;
    uint64_t inode = 0;
    bool operator==(const FileVersion&) const = default;
  };

  BearerAuth(std::string path, BearerAuthOptions options);
  Status Load(const FileVersion& version);
  // Returns the digests to check against, re-reading the file when due.
  std::shared_ptr<const std::vector<Digest>> CurrentDigests();
  bool IsPublic(const std::string& path) const;

  const std::string path_;
  const BearerAuthOptions options_;
  std::mutex mutex_;
  std::shared_ptr<const std::vector<Digest>> digests_;  // GUARDED_BY(mutex_)
  FileVersion version_;                                 // GUARDED_BY(mutex_)
  std::chrono::steady_clock::time_point last_check_;    // GUARDED_BY(mutex_)
};

}  // namespace usp
