#pragma once
// `uspctl local`: the whole platform on one machine. Reads the resource files
// `kubectl apply` takes, starts the embedded Kafka-protocol broker (unless an
// external bootstrap is given), creates the topics, and runs as supervised
// child processes the query service and, per job, `parallelism` actives plus
// `standbyReplicas` warm standbys. Each job has a JobController (the same
// failover logic as the operator, runtime/control): a worker that dies has its
// partitions moved to a warm standby at once and is restarted as the new
// standby. The assignment table is printed on every change and written to
// STATE_DIR/assignments.json; every failover is appended to
// STATE_DIR/failovers.jsonl. Optionally generates synthetic events. Writes
// STATE_DIR/endpoints.json once every job has its partitions assigned.

#include <cstdint>
#include <string>
#include <vector>

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
  // Plug-in libraries (docs/plugins.md) every worker loads (`--plugin`).
  std::vector<std::string> plugins;
};

// Runs until SIGINT/SIGTERM. Returns the process exit code.
int RunLocal(const LocalOptions& options);

}  // namespace usp
