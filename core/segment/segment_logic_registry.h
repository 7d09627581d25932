#pragma once
// Segment logic plug-ins by name, so a UserSegment can name one in
// `spec.transform`. Plug-ins register a factory (at start-up, or when their
// shared library is loaded); the worker asks MakeSegmentLogic for the logic
// of each segment it runs.

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/segment/segment_logic.h"
#include "core/segment/user_segment.h"
#include "core/status.h"

namespace usp {

// Builds the logic for one segment (it may read the spec, e.g. expireAfter).
// Returns an error when the segment does not suit the plug-in.
using SegmentLogicFactory =
    std::function<Result<std::unique_ptr<SegmentLogic>>(const UserSegment& segment)>;

// Thread-safe.
class SegmentLogicRegistry {
 public:
  // The process-wide registry plug-ins register into.
  static SegmentLogicRegistry& Global();

  // InvalidArgument when `name` is empty, `factory` is empty or the name is
  // already taken (a plug-in is never silently replaced).
  Status Register(std::string name, SegmentLogicFactory factory);

  bool Contains(std::string_view name) const;
  std::vector<std::string> Names() const;  // sorted

  // NotFound (naming the known plug-ins) for an unknown name; otherwise what
  // the factory returns (a null logic becomes Internal).
  Result<std::unique_ptr<SegmentLogic>> Create(std::string_view name,
                                               const UserSegment& segment) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, SegmentLogicFactory, std::less<>> factories_;  // GUARDED_BY(mu_)
};

// The logic `segment` runs: the plug-in named by `spec.transform` from
// `registry`, or DeclarativeSegmentLogic when it names none.
Result<std::unique_ptr<SegmentLogic>> MakeSegmentLogic(
    const UserSegment& segment,
    const SegmentLogicRegistry& registry = SegmentLogicRegistry::Global());

}  // namespace usp
