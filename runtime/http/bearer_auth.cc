#include "runtime/http/bearer_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

namespace usp {

namespace {

constexpr std::string_view kWhitespace = " \t\r\n\f\v";

std::string_view Trim(std::string_view s) {
  size_t begin = s.find_first_not_of(kWhitespace);
  if (begin == std::string_view::npos) return {};
  size_t end = s.find_last_not_of(kWhitespace);
  return s.substr(begin, end - begin + 1);
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

HttpResponse Unauthorized(const std::string& message, bool invalid_token) {
  HttpResponse response = JsonError(401, "unauthorized", message);
  // RFC 6750 section 3: the challenge, with error="invalid_token" when a
  // token was presented but rejected.
  response.headers.emplace_back(
      "WWW-Authenticate",
      invalid_token ? R"(Bearer realm="usp", error="invalid_token")" : R"(Bearer realm="usp")");
  return response;
}

// stat() follows symlinks: a Secret volume swaps its `..data` link on
// rotation, which changes the inode and mtime seen here.
Result<struct stat> StatFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    int err = errno;
    std::string message = "token file '" + path + "': " + std::strerror(err);
    if (err == ENOENT) return Status::NotFound(std::move(message));
    return Status::IoError(std::move(message));
  }
  return st;
}

}  // namespace

std::vector<std::string> ParseTokenFile(std::string_view text) {
  std::vector<std::string> tokens;
  while (!text.empty()) {
    size_t newline = text.find('\n');
    std::string_view line = Trim(text.substr(0, newline));
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    if (line.empty() || line.front() == '#') continue;
    tokens.emplace_back(line);
  }
  return tokens;
}

BearerAuth::BearerAuth(std::string path, BearerAuthOptions options)
    : path_(std::move(path)), options_(std::move(options)) {}

Result<std::unique_ptr<BearerAuth>> BearerAuth::FromFile(const std::string& path,
                                                         BearerAuthOptions options) {
  if (!options.now) options.now = [] { return std::chrono::steady_clock::now(); };
  std::unique_ptr<BearerAuth> auth(new BearerAuth(path, std::move(options)));
  auto st = StatFile(path);
  if (!st.ok()) return st.status();
  FileVersion version{static_cast<int64_t>(st->st_mtim.tv_sec) * 1000000000 + st->st_mtim.tv_nsec,
                      static_cast<int64_t>(st->st_size), static_cast<uint64_t>(st->st_ino)};
  std::lock_guard<std::mutex> lock(auth->mutex_);
  USP_RETURN_IF_ERROR(auth->Load(version));
  if (auth->digests_->empty()) {
    return Status::InvalidArgument("token file '" + path +
                                   "' holds no token (one per line; '#' starts a comment)");
  }
  auth->last_check_ = auth->options_.now();
  return auth;
}

Status BearerAuth::Load(const FileVersion& version) {
  std::ifstream in(path_, std::ios::binary);
  if (!in) return Status::IoError("token file '" + path_ + "' cannot be opened");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::IoError("token file '" + path_ + "' cannot be read");
  auto digests = std::make_shared<std::vector<Digest>>();
  for (const std::string& token : ParseTokenFile(text.str())) {
    Digest digest{};
    unsigned int length = 0;
    if (EVP_Digest(token.data(), token.size(), digest.data(), &length, EVP_sha256(), nullptr) !=
            1 ||
        length != digest.size()) {
      return Status::Internal("SHA-256 of a token failed");
    }
    digests->push_back(digest);
  }
  digests_ = std::move(digests);
  version_ = version;
  return Status::Ok();
}

std::shared_ptr<const std::vector<BearerAuth::Digest>> BearerAuth::CurrentDigests() {
  std::lock_guard<std::mutex> lock(mutex_);
  auto now = options_.now();
  if (now - last_check_ < options_.reload_interval) return digests_;
  last_check_ = now;
  auto st = StatFile(path_);
  if (!st.ok()) {
    spdlog::warn("{}; keeping the {} tokens read before", st.status().message(), digests_->size());
    return digests_;
  }
  FileVersion version{static_cast<int64_t>(st->st_mtim.tv_sec) * 1000000000 + st->st_mtim.tv_nsec,
                      static_cast<int64_t>(st->st_size), static_cast<uint64_t>(st->st_ino)};
  if (version == version_) return digests_;
  size_t before = digests_->size();
  Status loaded = Load(version);
  if (!loaded.ok()) {
    spdlog::warn("{}; keeping the {} tokens read before", loaded.message(), before);
  } else if (digests_->empty()) {
    spdlog::warn(
        "token file '{}' changed and holds no token: every authenticated route now "
        "answers 401",
        path_);
  } else {
    spdlog::info("token file '{}' changed: {} tokens (were {})", path_, digests_->size(), before);
  }
  return digests_;
}

bool BearerAuth::IsPublic(const std::string& path) const {
  return std::find(options_.public_paths.begin(), options_.public_paths.end(), path) !=
         options_.public_paths.end();
}

size_t BearerAuth::token_count() { return CurrentDigests()->size(); }

std::optional<HttpResponse> BearerAuth::Check(const HttpRequest& request) {
  if (IsPublic(request.path)) return std::nullopt;
  auto header = request.headers.find("authorization");
  if (header == request.headers.end()) {
    return Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'", false);
  }
  std::string_view value = Trim(header->second);
  size_t space = value.find_first_of(" \t");
  if (space == std::string_view::npos || !EqualsIgnoreCase(value.substr(0, space), "Bearer")) {
    return Unauthorized("the Authorization header must use the Bearer scheme", false);
  }
  std::string_view token = Trim(value.substr(space + 1));
  Digest presented{};
  unsigned int length = 0;
  if (token.empty() || EVP_Digest(token.data(), token.size(), presented.data(), &length,
                                  EVP_sha256(), nullptr) != 1) {
    return Unauthorized("invalid bearer token", true);
  }
  auto digests = CurrentDigests();
  // Every digest is compared, without an early exit.
  int matched = 0;
  for (const Digest& digest : *digests) {
    matched |= CRYPTO_memcmp(digest.data(), presented.data(), digest.size()) == 0 ? 1 : 0;
  }
  if (matched == 0) return Unauthorized("invalid bearer token", true);
  return std::nullopt;
}

}  // namespace usp
