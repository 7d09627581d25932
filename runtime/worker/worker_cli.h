#pragma once
// `usp-runtime worker` flags and turning them into the worker's
// configuration: the UserSignal from --config, Kafka client options and the
// loop options. Separate from worker_main.cc so it is unit-tested.

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/user_signal.h"
#include "runtime/kafka/kafka_client.h"
#include "runtime/worker/signal_worker.h"

namespace usp {

struct WorkerFlags {
  std::string config;                         // --config FILE (YAML or normalized JSON), required
  std::string bootstrap;                      // --bootstrap HOST:PORT[,...], required
  std::string partitions;                     // --partitions "0,1,5" | "none"; empty: all
  int http_port = 8081;                       // --http-port, 0 picks a free port
  std::string address = "0.0.0.0";            // --address
  std::string port_file;                      // --port-file: bound HTTP port written here
  std::string group;                          // --group, default usp.UserSignal.<name>
  std::vector<std::string> kafka_properties;  // --kafka-property k=v (repeatable)
};

void AddWorkerFlags(CLI::App* app, WorkerFlags* flags);

struct WorkerConfig {
  UserSignal signal;
  ConsumerOptions consumer;
  ProducerOptions producer;
  SignalWorkerOptions options;
};

// Parses "0,1,5" (or "none": no partitions, a standby). Errors name the bad
// item.
Status ParsePartitionList(const std::string& text, SignalWorkerOptions* options);

// Loads --config (exactly one valid simple UserSignal) and builds the rest.
// Errors are InvalidArgument with one line per problem, each naming the
// source and field path ("job.yaml#0: spec.onError: must be one of ...").
Result<WorkerConfig> LoadWorkerConfig(const WorkerFlags& flags);

}  // namespace usp
