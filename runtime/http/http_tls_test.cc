// HTTPS and mutual TLS of HttpServer, with certificates made by the openssl
// CLI in a temp dir and the real curl as the client.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <tuple>

#include "runtime/http/http_server.h"

namespace usp {
namespace {

namespace fs = std::filesystem;

struct CommandResult {
  int exit_code = -1;
  std::string output;
};

CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> chunk;
  size_t n;
  while ((n = std::fread(chunk.data(), 1, chunk.size(), pipe)) > 0)
    result.output.append(chunk.data(), n);
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

class HttpTlsTest : public ::testing::Test {
 protected:
  // One set of certificates for the suite: a CA, a server certificate for
  // 127.0.0.1 and a client certificate signed by it, and a client
  // certificate signed by an unrelated CA.
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("usp_http_tls_" + std::to_string(::getpid())));
    fs::remove_all(*dir_);
    fs::create_directories(*dir_);
    std::ofstream(*dir_ / "server.ext") << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
    std::ofstream(*dir_ / "client.ext") << "extendedKeyUsage=clientAuth\n";
    const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    std::string script = "cd " + dir_->string() + " && set -e" + " && openssl req -x509 " + key +
                         " -keyout ca.key -out ca.crt -days 2 -subj /CN=usp-test-ca" +
                         " && openssl req -x509 " + key +
                         " -keyout other-ca.key -out other-ca.crt -days 2 -subj /CN=other-ca";
    for (const auto& [name, ca, ext] :
         {std::tuple{"server", "ca", "server.ext"}, std::tuple{"client", "ca", "client.ext"},
          std::tuple{"stranger", "other-ca", "client.ext"}}) {
      script += std::string(" && openssl req ") + key + " -keyout " + name + ".key -out " + name +
                ".csr -subj /CN=" + name + " && openssl x509 -req -in " + name + ".csr -CA " + ca +
                ".crt -CAkey " + ca + ".key -CAcreateserial -days 2 -extfile " + ext + " -out " +
                name + ".crt";
    }
    CommandResult made = RunCommand("sh -c '" + script + "'");
    ASSERT_EQ(made.exit_code, 0) << made.output;
  }

  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }

  static std::string File(const std::string& name) { return (*dir_ / name).string(); }

  void Start(bool require_client_cert) {
    HttpServerOptions options;
    options.tls = HttpTlsOptions{File("server.crt"), File("server.key"),
                                 require_client_cert ? File("ca.crt") : ""};
    auto server = HttpServer::Start("127.0.0.1", 0, options, [](const HttpRequest& r) {
      return HttpResponse{200, "text/plain", "secure " + r.path};
    });
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
  }

  // curl's exit code and "<body>|<http code>".
  CommandResult Curl(const std::string& extra, const std::string& scheme = "https") {
    return RunCommand("curl -sS --noproxy '*' --max-time 10 --cacert " + File("ca.crt") + " " +
                      extra + " -w '|%{http_code}' " + scheme +
                      "://127.0.0.1:" + std::to_string(server_->port()) + "/hello");
  }

  std::string ClientCert(const std::string& name) {
    return "--cert " + File(name + ".crt") + " --key " + File(name + ".key");
  }

  static fs::path* dir_;
  std::unique_ptr<HttpServer> server_;
};

fs::path* HttpTlsTest::dir_ = nullptr;

TEST_F(HttpTlsTest, ServesHttpsWithoutClientCertificates) {
  Start(/*require_client_cert=*/false);
  CommandResult result = Curl("");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output, "secure /hello|200");
}

TEST_F(HttpTlsTest, RefusesPlainHttpOnTheTlsPort) {
  Start(/*require_client_cert=*/false);
  CommandResult result = Curl("", "http");
  EXPECT_NE(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output.find("secure"), std::string::npos);
}

TEST_F(HttpTlsTest, AcceptsAClientCertificateSignedByTheClientCa) {
  Start(/*require_client_cert=*/true);
  CommandResult result = Curl(ClientCert("client"));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output, "secure /hello|200");
}

TEST_F(HttpTlsTest, FailsTheHandshakeWithoutAClientCertificate) {
  Start(/*require_client_cert=*/true);
  CommandResult result = Curl("");
  EXPECT_NE(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output.find("secure"), std::string::npos) << result.output;
  // The server stays healthy for the next, well-behaved client.
  EXPECT_EQ(Curl(ClientCert("client")).output, "secure /hello|200");
}

TEST_F(HttpTlsTest, FailsTheHandshakeWithACertificateFromAnotherCa) {
  Start(/*require_client_cert=*/true);
  CommandResult result = Curl(ClientCert("stranger"));
  EXPECT_NE(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output.find("secure"), std::string::npos) << result.output;
}

TEST_F(HttpTlsTest, NamesAnUnreadableOrMismatchedFile) {
  HttpServerOptions options;
  options.tls = HttpTlsOptions{File("missing.crt"), File("server.key"), ""};
  auto missing =
      HttpServer::Start("127.0.0.1", 0, options, [](const HttpRequest&) { return HttpResponse{}; });
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("missing.crt"), std::string::npos);

  options.tls = HttpTlsOptions{File("server.crt"), File("client.key"), ""};
  auto mismatched =
      HttpServer::Start("127.0.0.1", 0, options, [](const HttpRequest&) { return HttpResponse{}; });
  ASSERT_FALSE(mismatched.ok());
  EXPECT_NE(mismatched.status().message().find("does not match"), std::string::npos)
      << mismatched.status().ToString();

  options.tls = HttpTlsOptions{File("server.crt"), File("server.key"), File("nope-ca.crt")};
  auto no_ca =
      HttpServer::Start("127.0.0.1", 0, options, [](const HttpRequest&) { return HttpResponse{}; });
  ASSERT_FALSE(no_ca.ok());
  EXPECT_NE(no_ca.status().message().find("nope-ca.crt"), std::string::npos);
}

}  // namespace
}  // namespace usp
