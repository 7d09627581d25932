// usp-bench-broker: the embedded Kafka broker (librdkafka's mock cluster) in
// a process of its own, so that its CPU is not charged to the client under
// test.
//
//   usp-bench-broker TOPIC:PARTITIONS...
//
// Starts usp::EmbeddedKafka, creates the topics, prints the bootstrap
// ("127.0.0.1:PORT") on stdout as one line, and serves until SIGTERM/SIGINT.
// Every topic a benchmark uses must be listed: producers would otherwise
// auto-create it with the mock cluster's default partition count.

#include <csignal>
#include <cstdio>
#include <string>

#include "runtime/kafka/embedded_kafka.h"

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help") {
    std::fprintf(stderr, "usage: usp-bench-broker TOPIC:PARTITIONS...\n");
    return 2;
  }
  // Block the signals before any librdkafka thread starts, so that they all
  // inherit the mask and sigwait() below is the only receiver.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto kafka = usp::EmbeddedKafka::Start(1);
  if (!kafka.ok()) {
    std::fprintf(stderr, "usp-bench-broker: %s\n", kafka.status().ToString().c_str());
    return 1;
  }
  for (int i = 1; i < argc; ++i) {
    std::string spec = argv[i];
    size_t colon = spec.rfind(':');
    int partitions = colon == std::string::npos ? 0 : std::atoi(spec.c_str() + colon + 1);
    if (partitions <= 0) {
      std::fprintf(stderr, "usp-bench-broker: expected TOPIC:PARTITIONS, got '%s'\n", argv[i]);
      return 2;
    }
    usp::Status s = (*kafka)->CreateTopic(spec.substr(0, colon), partitions);
    if (!s.ok()) {
      std::fprintf(stderr, "usp-bench-broker: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  std::printf("%s\n", (*kafka)->bootstrap().c_str());
  std::fflush(stdout);
  int received = 0;
  sigwait(&signals, &received);
  return 0;
}
