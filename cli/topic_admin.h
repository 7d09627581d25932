#pragma once
// Creating the topics a local platform needs, on an external cluster through
// the Kafka Admin API (the embedded broker lacks CreateTopics; `uspctl local`
// creates topics on it directly).

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace usp {

struct TopicSpec {
  std::string name;
  int32_t partitions = 8;
  bool compacted = false;
};

// Creates missing topics; existing ones are left as they are (not an error).
Status CreateTopicsWithAdminApi(const std::string& bootstrap, const std::vector<TopicSpec>& topics,
                                int timeout_ms = 15000);

}  // namespace usp
