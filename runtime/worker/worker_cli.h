#pragma once
// `usp-runtime worker` flags and turning them into the worker's
// configuration: the UserSignal from --config, Kafka client options and the
// loop options. Separate from worker_main.cc so it is unit-tested.

#include <CLI/CLI.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/resource_loader.h"
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
  std::string group;                          // --group, default usp.<Kind>.<name>
  std::vector<std::string> kafka_properties;  // --kafka-property k=v (repeatable)
  // --plugin PATH (repeatable): plug-in shared libraries (core/plugin/
  // usp_plugin.h) loaded before the transform is built; then $USP_PLUGIN_PATH.
  std::vector<std::string> plugins;
  // Stateful kinds (UserSegment, SessionJob) only:
  // --state-dir DIR: the RocksDB state store; default: a fresh directory
  // under $TMPDIR (or /tmp) removed on exit, restored from the changelog.
  std::string state_dir;
  // --signal-topic NAME=TOPIC (repeatable): read UserSignal NAME from TOPIC
  // instead of usp.signal.NAME (a signal with a custom spec.outputTopic).
  std::vector<std::string> signal_topics;
};

void AddWorkerFlags(CLI::App* app, WorkerFlags* flags);

struct WorkerConfig {
  // The resource's kind: "UserSignal" (a simple signal: `signal`, run by
  // SignalWorker) or a stateful kind ("UserSegment", "SessionJob": `resource`,
  // run by StatefulWorker, see runtime/jobs).
  std::string kind = "UserSignal";
  std::string name;
  UserSignal signal;                                 // kind UserSignal
  LoadedResource resource;                           // every kind: the loaded resource
  bool stateful = false;                             // UserSegment, SessionJob or a left_join UserSignal
  std::string state_dir;                             // --state-dir (empty: the default)
  std::map<std::string, std::string> signal_topics;  // --signal-topic
  ConsumerOptions consumer;
  ProducerOptions producer;
  SignalWorkerOptions options;
};

// Parses "0,1,5" (or "none": no partitions, a standby). Errors name the bad
// item.
Status ParsePartitionList(const std::string& text, SignalWorkerOptions* options);

// Parses one --signal-topic "NAME=TOPIC" into *out; InvalidArgument naming
// the bad item (also for a name given twice with different topics).
Status ParseSignalTopic(const std::string& text, std::map<std::string, std::string>* out);

// Loads --config (exactly one valid simple UserSignal, UserSegment or
// SessionJob) and builds the rest.
// First loads the --plugin libraries and those of $USP_PLUGIN_PATH into the
// global plug-in registries (an error names the library and the problem).
// Errors are InvalidArgument with one line per problem, each naming the
// source and field path ("job.yaml#0: spec.onError: must be one of ...").
Result<WorkerConfig> LoadWorkerConfig(const WorkerFlags& flags);

}  // namespace usp
