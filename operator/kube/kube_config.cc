#include "operator/kube/kube_config.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/resource_loader.h"

namespace usp::kube {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

Result<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError("cannot read " + path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Str(const json& o, const char* key) {
  if (!o.is_object()) return "";
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : "";
}

// Finds {name: X, <field>: {...}} in a kubeconfig list ("clusters", "users", "contexts").
const json* FindNamed(const json& doc, const char* list, const std::string& name,
                      const char* field) {
  auto it = doc.find(list);
  if (it == doc.end() || !it->is_array()) return nullptr;
  for (const auto& entry : *it) {
    if (Str(entry, "name") == name) {
      auto f = entry.find(field);
      if (f != entry.end() && f->is_object()) return &*f;
      static const json kEmpty = json::object();
      return &kEmpty;
    }
  }
  return nullptr;
}

// "<field>-data" (base64) wins over "<field>" (a path).
Status ReadPemField(const json& section, const std::string& field, const fs::path& base_dir,
                    std::string* out) {
  if (std::string data = Str(section, (field + "-data").c_str()); !data.empty()) {
    auto decoded = Base64Decode(data);
    if (!decoded.ok()) return Status::InvalidArgument(field + "-data: " + decoded.status().message());
    *out = std::move(decoded).value();
    return Status::Ok();
  }
  if (std::string path = Str(section, field.c_str()); !path.empty()) {
    fs::path p(path);
    if (p.is_relative()) p = base_dir / p;
    auto content = ReadFile(p);
    if (!content.ok()) return Status::InvalidArgument(field + ": " + content.status().message());
    *out = std::move(content).value();
  }
  return Status::Ok();
}

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

}  // namespace

Result<std::string> Base64Decode(std::string_view text) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  bool padding = false;
  for (char c : text) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      padding = true;
      continue;
    }
    int v = Base64Value(c);
    if (v < 0 || padding) return Status::InvalidArgument("invalid base64");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

Result<KubeConfig> ParseKubeconfig(std::string_view yaml, const fs::path& base_dir,
                                   const std::string& context) {
  auto docs = YamlDocumentsToJson(yaml);
  if (!docs.ok()) return Status::InvalidArgument("kubeconfig: " + docs.status().message());
  if (docs->empty() || !(*docs)[0].is_object()) {
    return Status::InvalidArgument("kubeconfig: not a mapping");
  }
  const json& doc = (*docs)[0];
  std::string context_name = context.empty() ? Str(doc, "current-context") : context;
  if (context_name.empty()) return Status::InvalidArgument("kubeconfig: no current-context");
  const json* ctx = FindNamed(doc, "contexts", context_name, "context");
  if (ctx == nullptr) return Status::InvalidArgument("kubeconfig: context \"" + context_name + "\" not found");
  std::string cluster_name = Str(*ctx, "cluster");
  const json* cluster = FindNamed(doc, "clusters", cluster_name, "cluster");
  if (cluster == nullptr) return Status::InvalidArgument("kubeconfig: cluster \"" + cluster_name + "\" not found");

  KubeConfig config;
  config.namespace_ = Str(*ctx, "namespace");
  config.server = Str(*cluster, "server");
  if (config.server.empty()) return Status::InvalidArgument("kubeconfig: cluster \"" + cluster_name + "\" has no server");
  while (!config.server.empty() && config.server.back() == '/') config.server.pop_back();
  if (auto it = cluster->find("insecure-skip-tls-verify"); it != cluster->end() && it->is_boolean()) {
    config.insecure_skip_tls_verify = it->get<bool>();
  }
  USP_RETURN_IF_ERROR(ReadPemField(*cluster, "certificate-authority", base_dir, &config.ca_pem));

  std::string user_name = Str(*ctx, "user");
  if (!user_name.empty()) {
    const json* user = FindNamed(doc, "users", user_name, "user");
    if (user == nullptr) return Status::InvalidArgument("kubeconfig: user \"" + user_name + "\" not found");
    if (user->contains("exec") || user->contains("auth-provider")) {
      return Status::InvalidArgument("kubeconfig: user \"" + user_name +
                                     "\": exec and auth-provider plugins are not supported");
    }
    config.token = Str(*user, "token");
    if (std::string file = Str(*user, "tokenFile"); !file.empty()) {
      fs::path p(file);
      config.token_file = (p.is_relative() ? base_dir / p : p).string();
    }
    USP_RETURN_IF_ERROR(ReadPemField(*user, "client-certificate", base_dir, &config.client_cert_pem));
    USP_RETURN_IF_ERROR(ReadPemField(*user, "client-key", base_dir, &config.client_key_pem));
    if (config.client_cert_pem.empty() != config.client_key_pem.empty()) {
      return Status::InvalidArgument("kubeconfig: user \"" + user_name +
                                     "\": client certificate and key must be given together");
    }
  }
  return config;
}

Result<KubeConfig> LoadKubeconfigFile(const fs::path& path, const std::string& context) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  auto config = ParseKubeconfig(*text, path.parent_path(), context);
  if (!config.ok()) return Status::InvalidArgument(path.string() + ": " + config.status().message());
  return config;
}

Result<KubeConfig> LoadInClusterConfig(const GetEnv& getenv, const fs::path& sa_dir) {
  const char* host = getenv("KUBERNETES_SERVICE_HOST");
  const char* port = getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || *host == '\0' || port == nullptr || *port == '\0') {
    return Status::NotFound("not in a cluster: KUBERNETES_SERVICE_HOST/PORT unset");
  }
  std::string h = host;
  if (h.find(':') != std::string::npos) h = "[" + h + "]";  // IPv6
  KubeConfig config;
  config.server = "https://" + h + ":" + port;
  config.token_file = (sa_dir / "token").string();
  if (!fs::exists(config.token_file)) {
    return Status::NotFound("not in a cluster: no service-account token at " + config.token_file);
  }
  auto ca = ReadFile(sa_dir / "ca.crt");
  if (ca.ok()) config.ca_pem = std::move(ca).value();
  auto ns = ReadFile(sa_dir / "namespace");
  if (ns.ok()) {
    config.namespace_ = *ns;
    while (!config.namespace_.empty() && std::isspace(static_cast<unsigned char>(config.namespace_.back()))) {
      config.namespace_.pop_back();
    }
  }
  return config;
}

Result<KubeConfig> LoadDefaultConfig(const std::string& kubeconfig_path, const std::string& context) {
  if (!kubeconfig_path.empty()) return LoadKubeconfigFile(kubeconfig_path, context);
  if (const char* env = std::getenv("KUBECONFIG"); env != nullptr && *env != '\0') {
    std::stringstream list(env);
    std::string entry;
    while (std::getline(list, entry, ':')) {
      if (!entry.empty() && fs::exists(entry)) return LoadKubeconfigFile(entry, context);
    }
    return Status::NotFound(std::string("KUBECONFIG=") + env + ": no such file");
  }
  auto in_cluster = LoadInClusterConfig([](const char* name) { return std::getenv(name); },
                                        "/var/run/secrets/kubernetes.io/serviceaccount");
  if (in_cluster.ok() || in_cluster.status().code() != Status::Code::kNotFound) return in_cluster;
  if (const char* home = std::getenv("HOME"); home != nullptr) {
    fs::path path = fs::path(home) / ".kube" / "config";
    if (fs::exists(path)) return LoadKubeconfigFile(path, context);
  }
  return Status::NotFound("no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, or run in a pod");
}

std::string TokenSource::Token() {
  std::lock_guard<std::mutex> lock(mu_);
  if (file_.empty()) return token_;
  std::error_code ec;
  auto mtime = fs::last_write_time(file_, ec);
  if (ec) return token_;  // keep the last good token while the file is swapped
  auto size = fs::file_size(file_, ec);
  if (ec) return token_;
  if (mtime != mtime_ || size != size_ || token_.empty()) {
    auto content = ReadFile(file_);
    if (content.ok()) {
      token_ = std::move(content).value();
      while (!token_.empty() && std::isspace(static_cast<unsigned char>(token_.back()))) token_.pop_back();
      mtime_ = mtime;
      size_ = size;
    }
  }
  return token_;
}

}  // namespace usp::kube
