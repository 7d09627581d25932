#pragma once
// KubeClient over HTTP(S) with cpprestsdk. Every cpprestsdk/Boost exception
// is caught here and becomes a transport ApiError.

#include <chrono>
#include <memory>

#include "core/status.h"
#include "operator/kube/kube_client.h"
#include "operator/kube/kube_config.h"

namespace usp::kube {

struct RestClientOptions {
  // Per-request timeout of ordinary calls [30s].
  std::chrono::seconds request_timeout{30};
  // A watch that receives no bytes for this long is treated as silently
  // dead and ended; must exceed the watches' timeoutSeconds [360s].
  std::chrono::seconds watch_idle_timeout{360};
  std::string user_agent = "usp-operator/0.1.0";
};

// Errors: a malformed server URL or unusable CA/client certificate PEM.
Result<std::unique_ptr<KubeClient>> NewRestKubeClient(const KubeConfig& config,
                                                      const RestClientOptions& options = {});

}  // namespace usp::kube
