#pragma once
// The subcommands of usp-bench-kafka (see kafka_tool_main.cc). Each returns
// the process exit code and prints its figures as one JSON object on stdout.

#include "bench/bench_kafka.h"

namespace usp::bench {

int LoadEvents(const Flags& flags);   // loaders.cc
int LoadSignals(const Flags& flags);  // loaders.cc
int RawCopy(const Flags& flags);      // raw_copy.cc
int RunUntil(const Flags& flags);     // run_until.cc
int Latency(const Flags& flags);      // latency_probe.cc (R6)

}  // namespace usp::bench
