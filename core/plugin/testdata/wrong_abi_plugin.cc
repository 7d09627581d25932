// A plug-in built against another plug-in ABI: the loader must refuse it
// before calling usp_register_plugins.
#include <cstdint>

#include "core/plugin/usp_plugin.h"

extern "C" __attribute__((visibility("default"))) uint32_t usp_plugin_abi_version() {
  return USP_PLUGIN_ABI_VERSION + 1000;
}

extern "C" __attribute__((visibility("default"))) int usp_register_plugins(
    usp::PluginRegistrar* registrar) {
  registrar->ReportError("must not be called");
  return 1;
}
