#pragma once
// The signals the query service knows: each UserSignal resource's name and
// output topic, read from the same resource files `kubectl apply` takes.

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace usp {

struct SignalCatalog {
  std::map<std::string, std::string, std::less<>> topic_by_signal;  // name -> outputTopic

  bool Contains(std::string_view signal) const { return topic_by_signal.contains(signal); }
  // output topic -> the signals written to it (topics may be shared).
  std::map<std::string, std::set<std::string>> SignalsByTopic() const;
};

// Loads every valid UserSignal of a file or directory. Invalid resources and
// other kinds are skipped with a line in *warnings (each naming the source
// and the first field error). Errors: the path cannot be read or parsed.
Result<SignalCatalog> LoadSignalCatalog(const std::filesystem::path& resources,
                                        std::vector<std::string>* warnings);

}  // namespace usp
