#pragma once
// What the query service knows: each UserSignal's, UserSegment's and
// SessionJob's name and output topic, read from the same resource files
// `kubectl apply` takes. An output topic carries one kind only.

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

  std::map<std::string, std::string, std::less<>> topic_by_segment;  // UserSegment -> topic
  std::map<std::string, std::string, std::less<>> topic_by_job;      // SessionJob -> topic

  bool Contains(std::string_view signal) const { return topic_by_signal.contains(signal); }
  bool ContainsSegment(std::string_view segment) const {
    return topic_by_segment.contains(segment);
  }
  bool ContainsJob(std::string_view job) const { return topic_by_job.contains(job); }
  // output topic -> the signals written to it (topics may be shared).
  std::map<std::string, std::set<std::string>> SignalsByTopic() const;
  std::map<std::string, std::set<std::string>> SegmentsByTopic() const;
  std::map<std::string, std::set<std::string>> JobsByTopic() const;
};

// Loads every valid UserSignal, UserSegment and SessionJob of a file or
// directory. Invalid resources, and resources whose output topic is already
// the output topic of another kind, are skipped with a line in *warnings
// (each naming the source and the reason). Errors: the path cannot be read
// or parsed.
Result<SignalCatalog> LoadSignalCatalog(const std::filesystem::path& resources,
                                        std::vector<std::string>* warnings);

}  // namespace usp
