// Registers a fine name and then one the example plug-in also registers:
// loaded after it, nothing of this library may be registered.
#include <memory>

#include "core/plugin/usp_plugin.h"

namespace {

class Keep final : public usp::SignalTransformPlugin {
 public:
  usp::PluginTransformResult Transform(const usp::PluginEvent&, std::string*,
                                       std::string*) override {
    return usp::PluginTransformResult::kKeep;
  }
};

usp::Result<std::unique_ptr<usp::SignalTransformPlugin>> MakeKeep(const usp::UserSignal&) {
  return std::unique_ptr<usp::SignalTransformPlugin>(std::make_unique<Keep>());
}

}  // namespace

USP_PLUGIN_ENTRY(registrar) {
  registrar->AddSignalTransform("refused.keep", MakeKeep);
  registrar->AddSignalTransform("example.clean_search", MakeKeep);
  return 0;
}
