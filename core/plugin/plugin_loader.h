#pragma once
// Loading plug-in shared libraries (core/plugin/usp_plugin.h) into the
// registries that `spec.transform` names are looked up in: signal transforms
// (signal_transform_registry.h) and segment logics
// (core/segment/segment_logic_registry.h).
//
// Load(path): dlopen(RTLD_NOW | RTLD_LOCAL), check usp_plugin_abi_version()
// against kUspPluginAbiVersion, call usp_register_plugins(registrar), then
// register everything it added, or nothing when anything was refused.
// Libraries are never unloaded (their code backs the registered factories
// and every object they built). Errors are InvalidArgument and start with
// "plug-in <path>: ".

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/plugin/signal_transform_registry.h"
#include "core/segment/segment_logic_registry.h"
#include "core/status.h"

namespace usp {

// The environment variable the worker reads plug-in paths from, ':'-separated.
inline constexpr const char* kPluginPathEnv = "USP_PLUGIN_PATH";

// Thread-safe.
class PluginLoader {
 public:
  // The registries must outlive the loader.
  PluginLoader(SignalTransformRegistry* transforms, SegmentLogicRegistry* segment_logics);

  // Loads into SignalTransformRegistry::Global() and SegmentLogicRegistry::Global().
  static PluginLoader& Global();

  // Loads one library. A library this loader already loaded (same file) is
  // not registered again. Errors name the path and the problem: no such
  // file, not loadable (dlerror), a missing entry point, an ABI version
  // mismatch, a refused name (empty, duplicate, already registered — by
  // which library when known), a non-zero return from
  // usp_register_plugins, nothing registered.
  Status Load(const std::string& path);

  // Loads each in order; stops at the first error.
  Status LoadAll(const std::vector<std::string>& paths);

  // The libraries loaded so far, as given to Load (made absolute).
  std::vector<std::string> Loaded() const;

 private:
  SignalTransformRegistry* transforms_;
  SegmentLogicRegistry* segment_logics_;
  mutable std::mutex mu_;
  std::set<void*> handles_;                                 // GUARDED_BY(mu_)
  std::vector<std::string> loaded_;                         // GUARDED_BY(mu_)
  std::map<std::string, std::string, std::less<>> owners_;  // "kind name" -> path, GUARDED_BY(mu_)
};

// "a.so:b.so" -> {"a.so", "b.so"}; empty items are skipped.
std::vector<std::string> SplitPluginPath(std::string_view text);

// The plug-ins a worker loads: `flag_paths` (--plugin, in order), then the
// items of $USP_PLUGIN_PATH, each into the global registries.
Status LoadPlugins(const std::vector<std::string>& flag_paths);

}  // namespace usp
