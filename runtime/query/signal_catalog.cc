#include "runtime/query/signal_catalog.h"

#include "core/resource_loader.h"

namespace usp {

std::map<std::string, std::set<std::string>> SignalCatalog::SignalsByTopic() const {
  std::map<std::string, std::set<std::string>> out;
  for (const auto& [signal, topic] : topic_by_signal) out[topic].insert(signal);
  return out;
}

Result<SignalCatalog> LoadSignalCatalog(const std::filesystem::path& resources,
                                        std::vector<std::string>* warnings) {
  auto loaded = LoadResourcesFromPath(resources);
  if (!loaded.ok()) return loaded.status();
  SignalCatalog catalog;
  for (const LoadedResource& resource : *loaded) {
    if (resource.kind != "UserSignal") continue;
    if (!resource.valid() || !resource.user_signal.has_value()) {
      std::string why = resource.errors.empty() ? "invalid" : resource.errors.front().ToString();
      warnings->push_back(resource.source + ": UserSignal '" + resource.name + "' skipped: " + why);
      continue;
    }
    const UserSignal& signal = *resource.user_signal;
    catalog.topic_by_signal[signal.metadata.name] = signal.spec.output_topic;
  }
  return catalog;
}

}  // namespace usp
