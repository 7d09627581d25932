#pragma once
// Where the API server is and how to authenticate to it: from a kubeconfig
// file (the current context, or a named one) or from inside a pod (the
// service-account token, CA and KUBERNETES_SERVICE_HOST/PORT).

#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "core/status.h"

namespace usp::kube {

struct KubeConfig {
  std::string server;  // "https://10.96.0.1:443" or "http://127.0.0.1:6443"
  std::string token;       // static bearer token; empty: none
  std::string token_file;  // bearer token re-read when the file changes (wins over `token`)
  std::string ca_pem;      // CA bundle (PEM); empty: the system roots
  std::string client_cert_pem;  // client-certificate auth (PEM), with client_key_pem
  std::string client_key_pem;
  bool insecure_skip_tls_verify = false;
  std::string namespace_;  // the context's (or the pod's) namespace; may be empty
};

// Parses kubeconfig YAML. `context` empty: current-context. Relative file
// paths (certificate-authority, client-certificate, client-key, tokenFile)
// are resolved against `base_dir`. Supports token, tokenFile,
// client-certificate(-data), client-key(-data), certificate-authority(-data),
// insecure-skip-tls-verify. Errors: YAML syntax, missing context/cluster/
// user, unsupported auth (exec, auth-provider), unreadable files.
Result<KubeConfig> ParseKubeconfig(std::string_view yaml, const std::filesystem::path& base_dir,
                                   const std::string& context = "");
Result<KubeConfig> LoadKubeconfigFile(const std::filesystem::path& path,
                                      const std::string& context = "");

// In-cluster configuration. `getenv` and `sa_dir` are parameters so tests
// need no pod; production passes std::getenv and
// /var/run/secrets/kubernetes.io/serviceaccount.
using GetEnv = std::function<const char*(const char*)>;
Result<KubeConfig> LoadInClusterConfig(const GetEnv& getenv, const std::filesystem::path& sa_dir);

// client-go's order: an explicit kubeconfig path, else $KUBECONFIG (the
// first existing file of the list), else in-cluster, else ~/.kube/config.
Result<KubeConfig> LoadDefaultConfig(const std::string& kubeconfig_path, const std::string& context);

// Standard base64 (RFC 4648), padding optional, whitespace ignored.
Result<std::string> Base64Decode(std::string_view text);

// The bearer token to send now. A token file is re-read when its
// modification time or size changes (projected service-account tokens
// rotate). Thread-safe.
class TokenSource {
 public:
  explicit TokenSource(const KubeConfig& config)
      : token_(config.token), file_(config.token_file) {}
  std::string Token();

 private:
  std::mutex mu_;
  std::string token_;  // GUARDED_BY(mu_)
  std::filesystem::path file_;
  std::filesystem::file_time_type mtime_{};  // GUARDED_BY(mu_)
  uintmax_t size_ = 0;                       // GUARDED_BY(mu_)
};

}  // namespace usp::kube
