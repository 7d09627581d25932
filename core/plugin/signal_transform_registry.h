#pragma once
// Signal transform plug-ins by name, so a UserSignal can name one in
// `spec.transform` (the counterpart of core/segment/segment_logic_registry.h).
// Plug-ins register a factory when their shared library is loaded
// (plugin_loader.h); SignalTransform::Create asks the registry for the
// plug-in of the signal it builds.

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/plugin/usp_plugin.h"
#include "core/status.h"
#include "core/user_signal.h"

namespace usp {

// Thread-safe.
class SignalTransformRegistry {
 public:
  // The process-wide registry plug-ins register into.
  static SignalTransformRegistry& Global();

  // InvalidArgument when `name` is empty, `factory` is empty or the name is
  // already taken (a plug-in is never silently replaced).
  Status Register(std::string name, SignalTransformPluginFactory factory);

  bool Contains(std::string_view name) const;
  std::vector<std::string> Names() const;  // sorted

  // NotFound (naming the registered plug-ins) for an unknown name; otherwise
  // what the factory returns (a null plug-in becomes Internal).
  Result<std::unique_ptr<SignalTransformPlugin>> Create(std::string_view name,
                                                        const UserSignal& signal) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, SignalTransformPluginFactory, std::less<>> factories_;  // GUARDED_BY(mu_)
};

// "a, b, c", or "none".
std::string JoinPluginNames(const std::vector<std::string>& names);

}  // namespace usp
