#include "runtime/kafka/kafka_properties.h"

namespace usp {

Result<KafkaProperties> ParseKafkaProperties(const std::vector<std::string>& items,
                                             std::string_view flag) {
  KafkaProperties properties;
  for (const std::string& item : items) {
    size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status::InvalidArgument(std::string(flag) + ": expected KEY=VALUE, got '" + item +
                                     "'");
    }
    properties[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return properties;
}

}  // namespace usp
