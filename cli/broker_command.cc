#include "cli/broker_command.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <thread>
#include <unistd.h>

#include "runtime/common/files.h"
#include "runtime/common/shutdown.h"
#include "runtime/kafka/embedded_kafka.h"

namespace usp {
namespace {

namespace fs = std::filesystem;

}  // namespace

int RunBroker(const BrokerOptions& options) {
  InstallShutdownHandlers();
  auto kafka = EmbeddedKafka::Start(1);
  if (!kafka.ok()) {
    std::cerr << "uspctl broker: " << kafka.status().ToString() << "\n";
    return 1;
  }
  auto broker = std::move(kafka).value();
  std::set<std::string> seen;
  for (const auto& topic : options.topics) {
    if (topic.empty() || !seen.insert(topic).second) continue;
    Status s = broker->CreateTopic(topic, options.partitions);
    if (!s.ok()) {
      std::cerr << "uspctl broker: creating topic " << topic << ": " << s.ToString() << "\n";
      return 1;
    }
  }
  std::cout << "embedded Kafka broker on " << broker->bootstrap() << " (" << seen.size()
            << " topics, " << options.partitions << " partitions each)\n";
  for (const auto& topic : seen) std::cout << "  topic " << topic << "\n";
  std::cout << "bootstrap: " << broker->bootstrap() << "\n" << std::flush;
  fs::path bootstrap_file;
  if (!options.bootstrap_file.empty()) {
    bootstrap_file = options.bootstrap_file;
    Status written = WriteFileAtomically(bootstrap_file.string(), broker->bootstrap() + "\n");
    if (!written.ok()) {
      std::cerr << "uspctl broker: " << written.message() << "\n";
      return 1;
    }
  }
  std::cout << "Press Ctrl-C to stop.\n" << std::flush;
  while (!ShutdownRequested()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (!bootstrap_file.empty()) {
    std::error_code ec;
    fs::remove(bootstrap_file, ec);  // a stale bootstrap must not outlive the broker
  }
  broker.reset();
  std::cout << "stopped\n";
  return 0;
}

}  // namespace usp
