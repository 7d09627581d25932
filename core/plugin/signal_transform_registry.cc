#include "core/plugin/signal_transform_registry.h"

#include <exception>

namespace usp {

SignalTransformRegistry& SignalTransformRegistry::Global() {
  static SignalTransformRegistry* registry = new SignalTransformRegistry();  // never destroyed
  return *registry;
}

Status SignalTransformRegistry::Register(std::string name, SignalTransformPluginFactory factory) {
  if (name.empty()) return Status::InvalidArgument("signal transform name must not be empty");
  if (!factory) {
    return Status::InvalidArgument("signal transform \"" + name + "\" has no factory");
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (factories_.count(name) != 0) {
    return Status::InvalidArgument("signal transform \"" + name + "\" is already registered");
  }
  factories_.emplace(std::move(name), std::move(factory));
  return Status::Ok();
}

bool SignalTransformRegistry::Contains(std::string_view name) const {
  std::lock_guard<std::mutex> lock(mu_);
  return factories_.find(name) != factories_.end();
}

std::vector<std::string> SignalTransformRegistry::Names() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> names;
  for (const auto& [name, unused] : factories_) names.push_back(name);
  return names;
}

Result<std::unique_ptr<SignalTransformPlugin>> SignalTransformRegistry::Create(
    std::string_view name, const UserSignal& signal) const {
  SignalTransformPluginFactory factory;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = factories_.find(name);
    if (it == factories_.end()) {
      std::vector<std::string> known;
      for (const auto& [known_name, unused] : factories_) known.push_back(known_name);
      return Status::NotFound("no signal transform plug-in named \"" + std::string(name) +
                              "\" (registered: " + JoinPluginNames(known) + ")");
    }
    factory = it->second;
  }
  // The factory runs unlocked (it may be slow) and is plug-in code: no
  // exception crosses into the worker.
  try {
    Result<std::unique_ptr<SignalTransformPlugin>> plugin = factory(signal);
    if (plugin.ok() && *plugin == nullptr) {
      return Status::Internal("signal transform plug-in \"" + std::string(name) +
                              "\" returned no transform");
    }
    return plugin;
  } catch (const std::exception& e) {
    return Status::Internal("signal transform plug-in \"" + std::string(name) +
                            "\" threw: " + e.what());
  } catch (...) {
    return Status::Internal("signal transform plug-in \"" + std::string(name) +
                            "\" threw a non-standard exception");
  }
}

std::string JoinPluginNames(const std::vector<std::string>& names) {
  if (names.empty()) return "none";
  std::string out;
  for (const std::string& name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

}  // namespace usp
