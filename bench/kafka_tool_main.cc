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
//   latency       R6: steady load with probe events, timed produce -> visible
//                 in the query API (--mode usp) or -> consumed (--mode raw)

#include <cstdio>
#include <string>

#include "bench/bench_kafka.h"
#include "bench/kafka_tools.h"

namespace {

void PrintUsage() {
  std::fprintf(stderr,
               "usage: usp-bench-kafka <command> [--flag value]...\n"
               "  load-events  --bootstrap B --topic T --events N [--users U] [--seed S] [--compression C]\n"
               "               [--shape search|booking] [--base-ms MS] [--step-ms MS]\n"
               "  load-signals --bootstrap B --resource FILE --users U --per-user K\n"
               "               --end-ms MS --step-ms MS --redis-out FILE\n"
               "  copy         --bootstrap B --source T --target T [--group G]\n"
               "  run-until    --bootstrap B --topic T --expect N [--timeout-s S] -- CMD...\n"
               "  run-until    --bootstrap B --topic T --committed-group G --sources T1[,T2]\n"
               "               [--timeout-s S] -- CMD...   (time until G committed every input)\n"
               "  latency      --bootstrap B --topic T --mode usp|raw [--url U --signal NAME]\n"
               "               [--rate R] [--probes N] [--probe-every K]   (latency --help)\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    PrintUsage();
    return 2;
  }
  std::string command = argv[1];
  if (command == "--help" || command == "-h") {
    PrintUsage();
    return 0;
  }
  if (command == "latency" && argc == 3 &&
      (std::string(argv[2]) == "--help" || std::string(argv[2]) == "-h")) {
    char help_flag[] = "--help";
    char help_value[] = "1";
    char* help_argv[] = {help_flag, help_value};
    auto help = usp::bench::Flags::Parse(2, help_argv);
    return usp::bench::Latency(*help);
  }
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
  if (command == "latency") return usp::bench::Latency(*flags);
  PrintUsage();
  return 2;
}
