#include "operator/kube/rest_kube_client.h"

#include <boost/asio/ssl.hpp>
#include <cpprest/containerstream.h>
#include <cpprest/http_client.h>
#include <cpprest/uri.h>

namespace usp::kube {
namespace {

using nlohmann::json;
namespace http = web::http;
namespace client = web::http::client;

constexpr const char* kJson = "application/json";
constexpr const char* kMergePatch = "application/merge-patch+json";

std::string Encode(const std::string& value) {
  return utility::conversions::to_utf8string(web::uri::encode_data_string(value));
}

std::string WithQuery(std::string path, const std::vector<std::pair<std::string, std::string>>& q) {
  char sep = '?';
  for (const auto& [k, v] : q) {
    if (v.empty()) continue;
    path += sep;
    path += k + "=" + Encode(v);
    sep = '&';
  }
  return path;
}

// Loads the PEMs into an SSL context; used both to validate them up front
// and as cpprestsdk's ssl_context_callback. Throws boost::system::system_error.
void ConfigureSsl(boost::asio::ssl::context& ctx, const KubeConfig& config) {
  if (!config.ca_pem.empty()) {
    ctx.add_certificate_authority(boost::asio::buffer(config.ca_pem.data(), config.ca_pem.size()));
  }
  if (!config.client_cert_pem.empty()) {
    ctx.use_certificate_chain(
        boost::asio::buffer(config.client_cert_pem.data(), config.client_cert_pem.size()));
    ctx.use_private_key(boost::asio::buffer(config.client_key_pem.data(), config.client_key_pem.size()),
                        boost::asio::ssl::context::pem);
  }
}

json ParseBody(const std::string& body) {
  if (body.empty()) return nullptr;
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  return parsed.is_discarded() ? json(nullptr) : parsed;
}

class RestKubeClient : public KubeClient {
 public:
  RestKubeClient(const KubeConfig& config, const RestClientOptions& options,
                 std::unique_ptr<client::http_client> requests,
                 std::unique_ptr<client::http_client> watches)
      : options_(options), tokens_(config), requests_(std::move(requests)),
        watches_(std::move(watches)) {}

  JsonResult Get(const ResourceDescriptor& r, const std::string& ns, const std::string& name) override {
    return Do(http::methods::GET, r.ObjectPath(ns, name), nullptr, kJson);
  }

  JsonResult List(const ResourceDescriptor& r, const std::string& ns, const ListOptions& o) override {
    return Do(http::methods::GET,
              WithQuery(r.CollectionPath(ns),
                        {{"labelSelector", o.label_selector}, {"fieldSelector", o.field_selector}}),
              nullptr, kJson);
  }

  JsonResult Create(const ResourceDescriptor& r, const std::string& ns, const json& object) override {
    return Do(http::methods::POST, r.CollectionPath(ns), object, kJson);
  }

  JsonResult Update(const ResourceDescriptor& r, const std::string& ns, const json& object) override {
    return Do(http::methods::PUT, r.ObjectPath(ns, NameOf(object)), object, kJson);
  }

  JsonResult Patch(const ResourceDescriptor& r, const std::string& ns, const std::string& name,
                   const json& merge_patch) override {
    return Do(http::methods::PATCH, r.ObjectPath(ns, name), merge_patch, kMergePatch);
  }

  JsonResult Delete(const ResourceDescriptor& r, const std::string& ns, const std::string& name) override {
    json options = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}, {"propagationPolicy", "Background"}};
    return Do(http::methods::DEL, r.ObjectPath(ns, name), options, kJson);
  }

  JsonResult GetStatus(const ResourceDescriptor& r, const std::string& ns, const std::string& name) override {
    return Do(http::methods::GET, r.ObjectPath(ns, name) + "/status", nullptr, kJson);
  }

  JsonResult UpdateStatus(const ResourceDescriptor& r, const std::string& ns, const json& object) override {
    return Do(http::methods::PUT, r.ObjectPath(ns, NameOf(object)) + "/status", object, kJson);
  }

  JsonResult Watch(const ResourceDescriptor& r, const std::string& ns, const WatchOptions& o,
                   const WatchHandler& handler, const WatchCancel* cancel) override;

 private:
  static std::string NameOf(const json& object) {
    auto m = object.find("metadata");
    if (m == object.end() || !m->is_object()) return "";
    auto n = m->find("name");
    return n != m->end() && n->is_string() ? n->get<std::string>() : "";
  }

  http::http_request NewRequest(const http::method& method, const std::string& path_and_query) {
    http::http_request req(method);
    req.set_request_uri(utility::conversions::to_string_t(path_and_query));
    req.headers().add(http::header_names::accept, kJson);
    req.headers().add(http::header_names::user_agent, options_.user_agent);
    std::string token = tokens_.Token();
    if (!token.empty()) req.headers().add(http::header_names::authorization, "Bearer " + token);
    return req;
  }

  JsonResult Do(const http::method& method, const std::string& path, const json& body,
                const char* content_type) {
    try {
      http::http_request req = NewRequest(method, path);
      if (!body.is_null()) req.set_body(body.dump(), content_type);
      http::http_response resp = requests_->request(req).get();
      const int code = resp.status_code();
      json parsed = ParseBody(resp.extract_utf8string(true).get());
      if (code >= 200 && code < 300) return parsed;
      return ApiError::FromStatus(code, parsed);
    } catch (const std::exception& e) {
      return ApiError::Transport(std::string(method) + " " + path + ": " + e.what());
    }
  }

  RestClientOptions options_;
  TokenSource tokens_;
  std::unique_ptr<client::http_client> requests_;
  std::unique_ptr<client::http_client> watches_;
};

JsonResult RestKubeClient::Watch(const ResourceDescriptor& r, const std::string& ns,
                                 const WatchOptions& o, const WatchHandler& handler,
                                 const WatchCancel* cancel) {
  const std::string path =
      WithQuery(r.CollectionPath(ns), {{"watch", "true"},
                                       {"resourceVersion", o.resource_version},
                                       {"labelSelector", o.label_selector},
                                       {"allowWatchBookmarks", o.allow_bookmarks ? "true" : ""},
                                       {"timeoutSeconds", std::to_string(o.timeout_seconds)}});
  pplx::cancellation_token_source cts;
  int registration = -1;
  if (cancel != nullptr) registration = cancel->AddCallback([cts]() { cts.cancel(); });
  struct Unregister {
    const WatchCancel* cancel;
    int id;
    ~Unregister() {
      if (cancel != nullptr && id >= 0) cancel->RemoveCallback(id);
    }
  } unregister{cancel, registration};

  try {
    http::http_response resp = watches_->request(NewRequest(http::methods::GET, path), cts.get_token()).get();
    const int code = resp.status_code();
    if (code != 200) {
      return ApiError::FromStatus(code, ParseBody(resp.extract_utf8string(true).get()));
    }
    concurrency::streams::istream body = resp.body();
    while (cancel == nullptr || !cancel->cancelled()) {
      concurrency::streams::container_buffer<std::string> line;
      size_t n = body.read_line(line).get();
      if (n == 0) {
        if (body.is_eof()) break;  // the server closed the stream
        continue;                  // an empty line
      }
      json event = json::parse(line.collection(), nullptr, false);
      if (event.is_discarded() || !event.is_object()) {
        return ApiError::Transport("watch " + path + ": malformed event line");
      }
      WatchEvent ev{event.value("type", ""), event.value("object", json(nullptr))};
      if (ev.type == "ERROR") {
        int status_code = ev.object.is_object() ? ev.object.value("code", 500) : 500;
        return ApiError::FromStatus(status_code, ev.object);
      }
      if (!handler(ev)) break;
    }
    cts.cancel();  // closes the connection instead of pooling a half-read stream
    return json(nullptr);
  } catch (const std::exception& e) {
    if (cancel != nullptr && cancel->cancelled()) return json(nullptr);
    return ApiError::Transport("watch " + path + ": " + e.what());
  }
}

}  // namespace

Result<std::unique_ptr<KubeClient>> NewRestKubeClient(const KubeConfig& config,
                                                      const RestClientOptions& options) {
  if (config.server.rfind("https://", 0) != 0 && config.server.rfind("http://", 0) != 0) {
    return Status::InvalidArgument("server must be an http:// or https:// URL: \"" + config.server + "\"");
  }
  try {
    boost::asio::ssl::context probe(boost::asio::ssl::context::sslv23);
    ConfigureSsl(probe, config);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("TLS credentials: ") + e.what());
  }
  auto make = [&](std::chrono::seconds timeout) {
    client::http_client_config cfg;
    cfg.set_timeout(timeout);
    cfg.set_validate_certificates(!config.insecure_skip_tls_verify);
    KubeConfig copy = config;
    cfg.set_ssl_context_callback([copy](boost::asio::ssl::context& ctx) { ConfigureSsl(ctx, copy); });
    return std::make_unique<client::http_client>(utility::conversions::to_string_t(config.server), cfg);
  };
  try {
    auto requests = make(options.request_timeout);
    auto watches = make(options.watch_idle_timeout);
    return std::unique_ptr<KubeClient>(
        new RestKubeClient(config, options, std::move(requests), std::move(watches)));
  } catch (const std::exception& e) {
    return Status::InvalidArgument("server \"" + config.server + "\": " + e.what());
  }
}

}  // namespace usp::kube
