#pragma once
// `uspctl broker`: runs the embedded Kafka-protocol broker on its own (for
// tests and demos that start their own workers, e.g. e2e/operator_e2e.sh).

#include <cstdint>
#include <string>
#include <vector>

namespace usp {

struct BrokerOptions {
  std::vector<std::string> topics;  // created with `partitions` partitions each
  int32_t partitions = 8;
  std::string bootstrap_file;       // written atomically once the topics exist
};

// Starts the broker, creates the topics, prints the bootstrap and runs until
// SIGINT/SIGTERM. Returns the process exit code.
int RunBroker(const BrokerOptions& options);

}  // namespace usp
