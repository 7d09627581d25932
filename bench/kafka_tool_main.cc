// usp-bench-kafka: the Kafka-side load generators and references of the
// benchmarks. Each subcommand is its own process in bench/run.
//
//   load-events   produce N realistic events to a source topic (R1)
//   load-signals  produce signal records to a signal output topic and write
//                 the same rows as Redis ZADD commands (R4)
//   copy          the raw librdkafka copy: consume every partition of a topic
//                 and produce the same bytes to another, no transform (R1's
//                 reference); runs until SIGTERM
//   run-until     spawn a command, time it until a topic's end offsets reach
//                 N (R1's stopwatch) or until a consumer group has committed
//                 every input of its source topics (R2's), stop it, print the
//                 figures as JSON

#include <cstdio>
#include <string>

#include "bench/bench_kafka.h"
#include "bench/kafka_tools.h"

namespace {

void PrintUsage() {
  std::fprintf(stderr,
               "usage: usp-bench-kafka <command> [--flag value]...\n"
               "  load-events  --bootstrap B --topic T --events N [--users U] [--seed S]\n"
               "               [--shape search|booking] [--base-ms MS] [--step-ms MS]\n"
               "  load-signals --bootstrap B --resource FILE --users U --per-user K\n"
               "               --end-ms MS --step-ms MS --redis-out FILE\n"
               "  copy         --bootstrap B --source T --target T [--group G]\n"
               "  run-until    --bootstrap B --topic T --expect N [--timeout-s S] -- CMD...\n"
               "  run-until    --bootstrap B --topic T --committed-group G --sources T1[,T2]\n"
               "               [--timeout-s S] -- CMD...   (time until G committed every input)\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    PrintUsage();
    return 2;
  }
  std::string command = argv[1];
  auto flags = usp::bench::Flags::Parse(argc - 2, argv + 2);
  if (!flags.ok()) {
    std::fprintf(stderr, "usp-bench-kafka: %s\n", flags.status().message().c_str());
    PrintUsage();
    return 2;
  }
  if (command == "load-events") return usp::bench::LoadEvents(*flags);
  if (command == "load-signals") return usp::bench::LoadSignals(*flags);
  if (command == "copy") return usp::bench::RawCopy(*flags);
  if (command == "run-until") return usp::bench::RunUntil(*flags);
  PrintUsage();
  return 2;
}
