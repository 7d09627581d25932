#pragma once
// `uspctl local`: the whole platform on one machine. Reads the resource files
// `kubectl apply` takes, starts the embedded Kafka-protocol broker (unless an
// external bootstrap is given), creates the topics, runs one worker process per
// resource and the query service as supervised child processes (a worker that
// dies is restarted and resumes from its committed offsets), optionally
// generates synthetic events, and writes STATE_DIR/endpoints.json once ready.

#include <cstdint>
#include <string>

namespace usp {

struct LocalOptions {
  std::string resources_dir;
  std::string kafka_bootstrap;  // empty: start the embedded broker
  int32_t partitions = 8;       // of every topic uspctl creates
  int query_port = 8080;        // 0 picks a free port
  std::string state_dir = ".usp-local";
  double generate_events = 0;   // events/s over all source topics; 0 = none
  std::string runtime_path;     // usp-runtime binary; default: beside uspctl
  int ready_timeout_s = 60;
};

// Runs until SIGINT/SIGTERM. Returns the process exit code.
int RunLocal(const LocalOptions& options);

}  // namespace usp
