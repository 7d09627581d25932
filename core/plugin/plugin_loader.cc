#include "core/plugin/plugin_loader.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <utility>

namespace usp {
namespace {

// Collects what usp_register_plugins adds; nothing reaches the registries
// until the whole library registered without a problem.
class CollectingRegistrar final : public PluginRegistrar {
 public:
  CollectingRegistrar(const SignalTransformRegistry& transforms,
                      const SegmentLogicRegistry& segment_logics,
                      const std::map<std::string, std::string, std::less<>>& owners)
      : transforms_(transforms), segment_logics_(segment_logics), owners_(owners) {}

  uint32_t AbiVersion() const override { return kUspPluginAbiVersion; }

  bool AddSignalTransform(std::string_view name, SignalTransformPluginFactory factory) override {
    if (!Check("signal transform", name, factory != nullptr, transforms_.Contains(name),
               signal_transforms_)) {
      return false;
    }
    signal_transforms_.emplace_back(std::string(name), std::move(factory));
    return true;
  }

  bool AddSegmentLogic(std::string_view name, SegmentLogicFactory factory) override {
    if (!Check("segment logic", name, factory != nullptr, segment_logics_.Contains(name),
               segment_logics_added_)) {
      return false;
    }
    segment_logics_added_.emplace_back(std::string(name), std::move(factory));
    return true;
  }

  void ReportError(std::string_view message) override { errors_.emplace_back(message); }

  const std::vector<std::string>& errors() const { return errors_; }
  std::vector<std::pair<std::string, SignalTransformPluginFactory>>& signal_transforms() {
    return signal_transforms_;
  }
  std::vector<std::pair<std::string, SegmentLogicFactory>>& segment_logics() {
    return segment_logics_added_;
  }

 private:
  template <typename Factory>
  bool Check(const char* kind, std::string_view name, bool has_factory, bool registered,
             const std::vector<std::pair<std::string, Factory>>& added) {
    std::string what = std::string(kind) + " \"" + std::string(name) + "\"";
    if (name.empty()) {
      errors_.push_back(std::string(kind) + " name must not be empty");
      return false;
    }
    if (!has_factory) {
      errors_.push_back(what + " has no factory");
      return false;
    }
    for (const auto& [added_name, unused] : added) {
      if (added_name == name) {
        errors_.push_back(what + " is registered twice by this plug-in");
        return false;
      }
    }
    if (registered) {
      auto owner = owners_.find(std::string(kind) + " " + std::string(name));
      errors_.push_back(what + " is already registered" +
                        (owner != owners_.end() ? " by " + owner->second : std::string()));
      return false;
    }
    return true;
  }

  const SignalTransformRegistry& transforms_;
  const SegmentLogicRegistry& segment_logics_;
  const std::map<std::string, std::string, std::less<>>& owners_;
  std::vector<std::string> errors_;
  std::vector<std::pair<std::string, SignalTransformPluginFactory>> signal_transforms_;
  std::vector<std::pair<std::string, SegmentLogicFactory>> segment_logics_added_;
};

std::string JoinErrors(const std::vector<std::string>& errors) {
  std::string out;
  for (const std::string& e : errors) {
    if (!out.empty()) out += "; ";
    out += e;
  }
  return out;
}

}  // namespace

PluginLoader::PluginLoader(SignalTransformRegistry* transforms,
                           SegmentLogicRegistry* segment_logics)
    : transforms_(transforms), segment_logics_(segment_logics) {}

PluginLoader& PluginLoader::Global() {
  static PluginLoader* loader =  // never destroyed
      new PluginLoader(&SignalTransformRegistry::Global(), &SegmentLogicRegistry::Global());
  return *loader;
}

Status PluginLoader::Load(const std::string& path_arg) {
  if (path_arg.empty()) return Status::InvalidArgument("plug-in path must not be empty");
  // An absolute path: dlopen would search LD_LIBRARY_PATH for a bare name.
  std::error_code ec;
  std::filesystem::path fs_path = std::filesystem::absolute(path_arg, ec);
  const std::string path = ec ? path_arg : fs_path.lexically_normal().string();
  const std::string prefix = "plug-in " + path + ": ";

  std::filesystem::file_status st = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(st)) {
    return Status::InvalidArgument(prefix + "no such file");
  }
  if (std::filesystem::is_directory(st)) {
    return Status::InvalidArgument(prefix + "is a directory, not a shared library");
  }

  std::lock_guard<std::mutex> lock(mu_);
  dlerror();  // clear
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return Status::InvalidArgument(prefix + "cannot load: " + (why ? why : "unknown dlopen error"));
  }
  if (handles_.count(handle) != 0) {
    dlclose(handle);  // drops the reference this call added; the library stays
    return Status::Ok();
  }

  auto abi = reinterpret_cast<UspPluginAbiVersionFn>(dlsym(handle, USP_PLUGIN_ABI_SYMBOL));
  if (abi == nullptr) {
    dlclose(handle);
    return Status::InvalidArgument(prefix + "does not export " USP_PLUGIN_ABI_SYMBOL
                                            "() (not a USP plug-in? define its entry point with "
                                            "USP_PLUGIN_ENTRY from core/plugin/usp_plugin.h)");
  }
  uint32_t version = abi();
  if (version != kUspPluginAbiVersion) {
    dlclose(handle);
    return Status::InvalidArgument(
        prefix + "plug-in ABI version mismatch: built for version " + std::to_string(version) +
        ", this usp-runtime implements version " + std::to_string(kUspPluginAbiVersion) +
        " (rebuild the plug-in against this release's core/plugin/usp_plugin.h)");
  }
  auto register_fn =
      reinterpret_cast<UspRegisterPluginsFn>(dlsym(handle, USP_PLUGIN_REGISTER_SYMBOL));
  if (register_fn == nullptr) {
    dlclose(handle);
    return Status::InvalidArgument(prefix + "does not export " USP_PLUGIN_REGISTER_SYMBOL
                                            "() (define it with USP_PLUGIN_ENTRY from "
                                            "core/plugin/usp_plugin.h)");
  }

  CollectingRegistrar registrar(*transforms_, *segment_logics_, owners_);
  int rc = 0;
  try {
    rc = register_fn(&registrar);
  } catch (const std::exception& e) {
    registrar.ReportError(std::string(USP_PLUGIN_REGISTER_SYMBOL "() threw: ") + e.what());
    rc = -1;
  } catch (...) {
    registrar.ReportError(USP_PLUGIN_REGISTER_SYMBOL "() threw a non-standard exception");
    rc = -1;
  }
  std::vector<std::string> errors = registrar.errors();
  if (rc != 0 && errors.empty()) {
    errors.push_back(USP_PLUGIN_REGISTER_SYMBOL "() failed (returned " + std::to_string(rc) + ")");
  }
  if (errors.empty() && registrar.signal_transforms().empty() &&
      registrar.segment_logics().empty()) {
    errors.push_back("registered no signal transform and no segment logic");
  }
  if (!errors.empty()) {
    // Registered factories hold no code of the library yet: safe to unload.
    registrar.signal_transforms().clear();
    registrar.segment_logics().clear();
    dlclose(handle);
    return Status::InvalidArgument(prefix + JoinErrors(errors));
  }

  // From here on the library stays loaded, even if a registration races
  // with another registrant and fails.
  handles_.insert(handle);
  loaded_.push_back(path);
  for (auto& [name, factory] : registrar.signal_transforms()) {
    Status s = transforms_->Register(name, std::move(factory));
    if (!s.ok())
      errors.push_back(s.message());
    else
      owners_["signal transform " + name] = path;
  }
  for (auto& [name, factory] : registrar.segment_logics()) {
    Status s = segment_logics_->Register(name, std::move(factory));
    if (!s.ok())
      errors.push_back(s.message());
    else
      owners_["segment logic " + name] = path;
  }
  if (!errors.empty()) return Status::InvalidArgument(prefix + JoinErrors(errors));
  return Status::Ok();
}

Status PluginLoader::LoadAll(const std::vector<std::string>& paths) {
  for (const std::string& path : paths) USP_RETURN_IF_ERROR(Load(path));
  return Status::Ok();
}

std::vector<std::string> PluginLoader::Loaded() const {
  std::lock_guard<std::mutex> lock(mu_);
  return loaded_;
}

std::vector<std::string> SplitPluginPath(std::string_view text) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= text.size()) {
    size_t colon = text.find(':', start);
    if (colon == std::string_view::npos) colon = text.size();
    if (colon > start) items.emplace_back(text.substr(start, colon - start));
    start = colon + 1;
  }
  return items;
}

Status LoadPlugins(const std::vector<std::string>& flag_paths) {
  std::vector<std::string> paths = flag_paths;
  if (const char* env = std::getenv(kPluginPathEnv); env != nullptr) {
    for (std::string& p : SplitPluginPath(env)) paths.push_back(std::move(p));
  }
  return PluginLoader::Global().LoadAll(paths);
}

}  // namespace usp
