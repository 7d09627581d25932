#include "runtime/query/signal_catalog.h"

#include "core/resource_loader.h"

namespace usp {

namespace {

std::map<std::string, std::set<std::string>> ByTopic(
    const std::map<std::string, std::string, std::less<>>& topic_by_name) {
  std::map<std::string, std::set<std::string>> out;
  for (const auto& [name, topic] : topic_by_name) out[topic].insert(name);
  return out;
}

}  // namespace

std::map<std::string, std::set<std::string>> SignalCatalog::SignalsByTopic() const {
  return ByTopic(topic_by_signal);
}

std::map<std::string, std::set<std::string>> SignalCatalog::SegmentsByTopic() const {
  return ByTopic(topic_by_segment);
}

std::map<std::string, std::set<std::string>> SignalCatalog::JobsByTopic() const {
  return ByTopic(topic_by_job);
}

Result<SignalCatalog> LoadSignalCatalog(const std::filesystem::path& resources,
                                        std::vector<std::string>* warnings) {
  auto loaded = LoadResourcesFromPath(resources);
  if (!loaded.ok()) return loaded.status();
  SignalCatalog catalog;
  std::map<std::string, std::string> kind_by_topic;
  for (const LoadedResource& resource : *loaded) {
    std::map<std::string, std::string, std::less<>>* target = nullptr;
    std::string name;
    std::string topic;
    if (resource.kind == "UserSignal" && resource.user_signal.has_value()) {
      target = &catalog.topic_by_signal;
      name = resource.user_signal->metadata.name;
      topic = resource.user_signal->spec.output_topic;
    } else if (resource.kind == "UserSegment" && resource.user_segment.has_value()) {
      target = &catalog.topic_by_segment;
      name = resource.user_segment->metadata.name;
      topic = resource.user_segment->spec.output_topic;
    } else if (resource.kind == "SessionJob" && resource.session_job.has_value()) {
      target = &catalog.topic_by_job;
      name = resource.session_job->metadata.name;
      topic = resource.session_job->spec.output_topic;
    } else if (resource.kind != "UserSignal" && resource.kind != "UserSegment" &&
               resource.kind != "SessionJob") {
      continue;
    }
    if (target == nullptr || !resource.valid()) {
      std::string why = resource.errors.empty() ? "invalid" : resource.errors.front().ToString();
      warnings->push_back(resource.source + ": " + resource.kind + " '" + resource.name +
                          "' skipped: " + why);
      continue;
    }
    auto [it, inserted] = kind_by_topic.emplace(topic, resource.kind);
    if (!inserted && it->second != resource.kind) {
      warnings->push_back(resource.source + ": " + resource.kind + " '" + name +
                          "' skipped: its output topic " + topic + " is the output topic of a " +
                          it->second);
      continue;
    }
    (*target)[name] = topic;
  }
  return catalog;
}

}  // namespace usp
