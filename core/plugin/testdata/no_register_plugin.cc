// A library with the ABI version but no usp_register_plugins.
#include <cstdint>

#include "core/plugin/usp_plugin.h"

extern "C" __attribute__((visibility("default"))) uint32_t usp_plugin_abi_version() {
  return USP_PLUGIN_ABI_VERSION;
}
