#include "core/segment/segment_logic_registry.h"

namespace usp {

SegmentLogicRegistry& SegmentLogicRegistry::Global() {
  static SegmentLogicRegistry* registry = new SegmentLogicRegistry();  // never destroyed
  return *registry;
}

Status SegmentLogicRegistry::Register(std::string name, SegmentLogicFactory factory) {
  if (name.empty()) return Status::InvalidArgument("segment logic name must not be empty");
  if (!factory) {
    return Status::InvalidArgument("segment logic \"" + name + "\" has no factory");
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (factories_.count(name) != 0) {
    return Status::InvalidArgument("segment logic \"" + name + "\" is already registered");
  }
  factories_.emplace(std::move(name), std::move(factory));
  return Status::Ok();
}

bool SegmentLogicRegistry::Contains(std::string_view name) const {
  std::lock_guard<std::mutex> lock(mu_);
  return factories_.find(name) != factories_.end();
}

std::vector<std::string> SegmentLogicRegistry::Names() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> names;
  for (const auto& [name, unused] : factories_) names.push_back(name);
  return names;
}

Result<std::unique_ptr<SegmentLogic>> SegmentLogicRegistry::Create(
    std::string_view name, const UserSegment& segment) const {
  SegmentLogicFactory factory;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = factories_.find(name);
    if (it == factories_.end()) {
      std::string known;
      for (const auto& [known_name, unused] : factories_) {
        known += known.empty() ? known_name : ", " + known_name;
      }
      return Status::NotFound("no segment logic plug-in named \"" + std::string(name) +
                              "\" (registered: " + (known.empty() ? "none" : known) + ")");
    }
    factory = it->second;
  }
  // The factory runs unlocked: it may be slow, or look at the registry itself.
  Result<std::unique_ptr<SegmentLogic>> logic = factory(segment);
  if (logic.ok() && *logic == nullptr) {
    return Status::Internal("segment logic plug-in \"" + std::string(name) +
                            "\" returned no logic");
  }
  return logic;
}

Result<std::unique_ptr<SegmentLogic>> MakeSegmentLogic(const UserSegment& segment,
                                                       const SegmentLogicRegistry& registry) {
  if (segment.spec.transform.empty()) {
    return std::unique_ptr<SegmentLogic>(std::make_unique<DeclarativeSegmentLogic>(segment.spec));
  }
  Result<std::unique_ptr<SegmentLogic>> logic = registry.Create(segment.spec.transform, segment);
  if (!logic.ok()) {
    // Point at the field, and at how plug-ins get loaded.
    if (logic.status().code() == Status::Code::kNotFound) {
      return Status::NotFound("spec.transform: " + logic.status().message() +
                              "; load the library that provides it with --plugin PATH or "
                              "USP_PLUGIN_PATH");
    }
    return Status::InvalidArgument("spec.transform: " + logic.status().message());
  }
  return logic;
}

}  // namespace usp
