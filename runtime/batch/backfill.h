#pragma once
// `usp-runtime backfill`: the batch path. RunBackfill() is the whole run
// (input -> BatchPipeline -> rows -> store / topic / parity report) and
// RunBackfillCommand() its command line. README.md gives the rules (clock,
// versions, idempotency, resume).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "runtime/batch/parity_report.h"
#include "runtime/kafka/kafka_client.h"

namespace usp {

struct BackfillOptions {
  std::string resources;            // --resources: a file or directory of CR YAML
  std::string job;                  // --job: the resource whose rows are written
  std::vector<std::string> inputs;  // --input FILE | TOPIC=FILE
  std::string brokers;              // --brokers: Kafka input and/or --to-topic
  std::optional<int64_t> from_ms;   // --from (inclusive)
  std::optional<int64_t> to_ms;     // --to (exclusive); also the end of the clock
  KafkaProperties properties;       // -X key=value
  bool to_topic = false;            // --to-topic
  std::string store_dir;            // --store-dir
  int32_t partitions = 0;           // --partitions; 0: the store's, the topics', or 8
  std::string checkpoint;           // --checkpoint FILE
  std::optional<int64_t> version;   // --version; default: now (first run)
  bool compare = false;             // --compare
  std::string report;               // --report FILE (full JSON)
  size_t list = 10;                 // --list: entries per category printed
  int chunk_rows = 1000;            // rows per write (and checkpoint)
  // Test hook (--stop-after-rows): stop as if killed once this many rows
  // are handled in this run (checkpoint saved), -1 = never.
  int64_t stop_after_rows = -1;
  bool tty = false;  // progress as an updating line
};

struct BackfillSummary {
  int64_t events = 0;     // input records read
  int64_t invalid = 0;    // events the chain could not use
  int64_t rows = 0;       // rows computed (one per identity)
  int64_t written = 0;    // rows written by this run
  int64_t unchanged = 0;  // rows skipped by this run: already stored with the same content
  int64_t version = 0;
  double seconds = 0;
  bool interrupted = false;  // stopped before the end: rerun with --checkpoint to continue
  std::optional<ParityReport> parity;  // --compare
  std::string Line() const;            // the final summary line
};

// Errors: InvalidArgument naming the flag or field (usage), others from I/O.
Result<BackfillSummary> RunBackfill(const BackfillOptions& options);

// argv[0] is "backfill". Exit codes: 0 done (and, with --compare,
// identical), 1 --compare found differences, 2 errors, 3 interrupted
// (rerun with the same flags to continue).
int RunBackfillCommand(int argc, char** argv);

}  // namespace usp
