// usp-runtime: the data-plane binary. Subcommands:
//   worker  run one job on its assigned partitions   (runtime/worker)
//   serve   the query service                        (runtime/query)
//   backfill  the batch path and parity report       (runtime/batch)
#include <cstdio>
#include <cstring>
#include <string>

#include "runtime/batch/backfill.h"
#include "runtime/query/serve_main.h"
#include "runtime/worker/worker_main.h"

namespace {

void PrintUsage(FILE* out) {
  std::fprintf(out,
               "usage: usp-runtime <command> [options]\n\n"
               "commands:\n"
               "  worker   run one UserSignal job on its assigned Kafka partitions\n"
               "  serve    materialize output topics into RocksDB and serve the query API\n"
               "  backfill run a job's online code over historical input (batch path, --compare)\n\n"
               "Run 'usp-runtime <command> --help' for the options of a command.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    PrintUsage(stderr);
    return 2;
  }
  std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    PrintUsage(stdout);
    return 0;
  }
  if (cmd == "--version") {
    std::printf("usp-runtime 0.1.0\n");
    return 0;
  }
  // Subcommands parse argv[1..] so that their --help names them.
  if (cmd == "worker") return usp::RunWorker(argc - 1, argv + 1);
  if (cmd == "serve") return usp::RunServe(argc - 1, argv + 1);
  if (cmd == "backfill") return usp::RunBackfillCommand(argc - 1, argv + 1);
  std::fprintf(stderr, "usp-runtime: unknown command '%s'\n\n", cmd.c_str());
  PrintUsage(stderr);
  return 2;
}
