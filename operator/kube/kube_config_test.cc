#include "operator/kube/kube_config.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <gtest/gtest.h>

namespace usp::kube {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() : path_(fs::temp_directory_path() / ("kubeconfig_test_" + std::to_string(::getpid()) + "_" +
                                                  std::to_string(counter_++))) {
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }
  void Write(const std::string& name, const std::string& content) const {
    std::ofstream(path_ / name) << content;
  }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

constexpr const char* kTwoContexts = R"(
apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev-cluster
  cluster:
    server: http://127.0.0.1:8001/
- name: prod-cluster
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority-data: Q0EtUEVN
    insecure-skip-tls-verify: false
contexts:
- name: dev
  context: {cluster: dev-cluster, user: dev-user, namespace: team-a}
- name: prod
  context: {cluster: prod-cluster, user: prod-user}
users:
- name: dev-user
  user:
    token: dev-token
- name: prod-user
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
)";

TEST(Kubeconfig, UsesTheCurrentContextWithABearerToken) {
  auto config = ParseKubeconfig(kTwoContexts, "/nowhere");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->server, "http://127.0.0.1:8001");  // trailing slash dropped
  EXPECT_EQ(config->token, "dev-token");
  EXPECT_EQ(config->namespace_, "team-a");
  EXPECT_TRUE(config->ca_pem.empty());
  EXPECT_FALSE(config->insecure_skip_tls_verify);
}

TEST(Kubeconfig, ANamedContextSelectsClientCertificateAuthAndCaData) {
  auto config = ParseKubeconfig(kTwoContexts, "/nowhere", "prod");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->server, "https://10.0.0.1:6443");
  EXPECT_EQ(config->ca_pem, "CA-PEM");
  EXPECT_EQ(config->client_cert_pem, "CERT");
  EXPECT_EQ(config->client_key_pem, "KEY");
  EXPECT_TRUE(config->token.empty());
}

TEST(Kubeconfig, FilePathsAreRelativeToTheKubeconfig) {
  TempDir dir;
  dir.Write("ca.crt", "CA FROM FILE");
  dir.Write("client.crt", "CERT FROM FILE");
  dir.Write("client.key", "KEY FROM FILE");
  dir.Write("token", "file-token\n");
  dir.Write("config", R"(
current-context: c
clusters:
- name: k
  cluster: {server: "https://example:443", certificate-authority: ca.crt, insecure-skip-tls-verify: true}
contexts:
- name: c
  context: {cluster: k, user: u}
users:
- name: u
  user: {client-certificate: client.crt, client-key: client.key, tokenFile: token}
)");
  auto config = LoadKubeconfigFile(dir.path() / "config");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->ca_pem, "CA FROM FILE");
  EXPECT_EQ(config->client_cert_pem, "CERT FROM FILE");
  EXPECT_EQ(config->client_key_pem, "KEY FROM FILE");
  EXPECT_EQ(config->token_file, (dir.path() / "token").string());
  EXPECT_TRUE(config->insecure_skip_tls_verify);
  EXPECT_EQ(TokenSource(*config).Token(), "file-token");
}

TEST(Kubeconfig, ReportsWhatIsMissingOrUnsupported) {
  struct Case {
    const char* yaml;
    const char* context;
    const char* error;
  };
  const Case cases[] = {
      {"current-context: x\n", "", "context \"x\" not found"},
      {"contexts: []\n", "", "no current-context"},
      {"current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n", "", "cluster \"k\" not found"},
      {"current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n"
       "clusters: [{name: k, cluster: {server: 'https://a'}}]\n"
       "users: [{name: u, user: {exec: {command: aws}}}]\n",
       "", "not supported"},
      {"current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n"
       "clusters: [{name: k, cluster: {server: 'https://a'}}]\n"
       "users: [{name: u, user: {client-certificate-data: Q0VSVA==}}]\n",
       "", "must be given together"},
      {"current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
       "clusters: [{name: k, cluster: {certificate-authority: /no/such/file, server: 'https://a'}}]\n",
       "", "cannot read /no/such/file"},
      {kTwoContexts, "staging", "context \"staging\" not found"},
  };
  for (const auto& c : cases) {
    auto config = ParseKubeconfig(c.yaml, "/nowhere", c.context);
    ASSERT_FALSE(config.ok()) << c.yaml;
    EXPECT_NE(config.status().message().find(c.error), std::string::npos)
        << config.status().message() << " should contain " << c.error;
  }
}

TEST(InClusterConfig, ReadsTheServiceAccountAndEnvironment) {
  TempDir dir;
  dir.Write("token", "sa-token");
  dir.Write("ca.crt", "CLUSTER CA");
  dir.Write("namespace", "usp-system\n");
  std::map<std::string, std::string> env = {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                                            {"KUBERNETES_SERVICE_PORT", "443"}};
  auto getenv = [&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  auto config = LoadInClusterConfig(getenv, dir.path());
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->server, "https://10.96.0.1:443");
  EXPECT_EQ(config->ca_pem, "CLUSTER CA");
  EXPECT_EQ(config->namespace_, "usp-system");
  EXPECT_EQ(TokenSource(*config).Token(), "sa-token");

  env["KUBERNETES_SERVICE_HOST"] = "fd00::1";
  EXPECT_EQ(LoadInClusterConfig(getenv, dir.path())->server, "https://[fd00::1]:443");
  env.erase("KUBERNETES_SERVICE_HOST");
  auto outside = LoadInClusterConfig(getenv, dir.path());
  ASSERT_FALSE(outside.ok());
  EXPECT_EQ(outside.status().code(), Status::Code::kNotFound);
}

TEST(TokenSource, RereadsTheTokenFileWhenItChanges) {
  TempDir dir;
  dir.Write("token", "first");
  KubeConfig config;
  config.token_file = (dir.path() / "token").string();
  TokenSource tokens(config);
  EXPECT_EQ(tokens.Token(), "first");
  dir.Write("token", "second-rotated");  // a different size, whatever the mtime granularity
  EXPECT_EQ(tokens.Token(), "second-rotated");
  fs::remove(dir.path() / "token");
  EXPECT_EQ(tokens.Token(), "second-rotated");  // keeps the last good token while the file is swapped
}

TEST(Base64, DecodesStandardAndUnpaddedText) {
  EXPECT_EQ(*Base64Decode("aGVsbG8="), "hello");
  EXPECT_EQ(*Base64Decode("aGVsbG8"), "hello");
  EXPECT_EQ(*Base64Decode("aGVs\nbG8h"), "hello!");
  EXPECT_FALSE(Base64Decode("a*b").ok());
}

}  // namespace
}  // namespace usp::kube
