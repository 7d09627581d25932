#pragma once
// librdkafka properties given on a command line as KEY=VALUE items.

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "runtime/kafka/kafka_client.h"

namespace usp {

// Parses "k=v" items (the value may be empty or contain '='). InvalidArgument
// naming `flag` for an item without '=' or with an empty key.
Result<KafkaProperties> ParseKafkaProperties(const std::vector<std::string>& items,
                                             std::string_view flag);

}  // namespace usp
