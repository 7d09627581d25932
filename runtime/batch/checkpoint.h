#pragma once
// The checkpoint of a backfill (--checkpoint FILE), JSON:
//   {"format":1,"job":NAME,"version":MS,
//    "inputs":[{"file":PATH,"size":BYTES,"lines":N} |
//              {"topic":T,"partition":P,"start":OFFSET,"end":OFFSET}],
//    "rows":N,"rows_done":K,"written":W,"unchanged":U,"complete":BOOL}
// `version` is chosen by the first run and reused, so a resumed run writes
// the same versions. `inputs` is what the result was computed from (a Kafka
// range's resolved offsets: a resumed run reads exactly those). `rows` is
// the number of rows the run computed and `rows_done` how many of them, in
// identity order, are written (or skipped as unchanged). Written atomically
// (temporary file + rename) after every chunk of rows.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "runtime/batch/kafka_range.h"

namespace usp {

struct CheckpointFile {
  std::string path;
  int64_t size = 0;
  int64_t lines = 0;
  bool operator==(const CheckpointFile&) const = default;
};

struct Checkpoint {
  std::string job;
  int64_t version = 0;
  std::vector<CheckpointFile> files;
  std::vector<PartitionRange> ranges;
  int64_t rows = 0;
  int64_t rows_done = 0;
  int64_t written = 0;
  int64_t unchanged = 0;
  bool complete = false;
};

// nullopt when `path` does not exist; InvalidArgument naming the field when
// it is not a checkpoint.
Result<std::optional<Checkpoint>> ReadCheckpoint(const std::string& path);
Status WriteCheckpoint(const std::string& path, const Checkpoint& checkpoint);

}  // namespace usp
