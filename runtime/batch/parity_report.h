#pragma once
// The parity report: the batch result of a range against what the online
// path materialized (the query service's store), per identity, versions
// ignored. Pure: rows in, report out (backfill_main.cc reads the store).
//
// Categories:
//   matching        same identity, same content
//   missing         the batch has the row, the store does not
//   extra           the store has the row, the batch does not
//   differing       same identity, different content (field-level diff)
//   window_boundary SessionJob only: a missing and an extra window of the
//                   same job and user that overlap (a session split or
//                   merged differently, a shifted sliding window); paired
//                   and reported here instead of as missing + extra.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/batch/batch_rows.h"

namespace usp {

// The range compared: signals by event_time, segments by start, sessions by
// window_end, in [start, end).
struct ParityRange {
  int64_t start = std::numeric_limits<int64_t>::min();
  int64_t end = std::numeric_limits<int64_t>::max();
};

// Keeps only the rows of `rows` inside `range`.
void RestrictToRange(const ParityRange& range, BatchRows* rows);

struct ParityReport {
  std::string job;
  RowKind kind = RowKind::kSignal;
  ParityRange range;
  int64_t matching = 0;
  // Each entry a JSON object: {"identity":{...},"batch":row?,"online":row?,"fields":[...]}.
  std::vector<nlohmann::json> missing;
  std::vector<nlohmann::json> extra;
  std::vector<nlohmann::json> differing;
  std::vector<nlohmann::json> window_boundary;

  bool identical() const {
    return missing.empty() && extra.empty() && differing.empty() && window_boundary.empty();
  }
  // {"job","kind","range","identical","counts":{...},"missing":[...],...}
  // with at most `list_limit` entries per list.
  nlohmann::json ToJson(size_t list_limit = std::numeric_limits<size_t>::max()) const;
  // A few human lines: counts and the first `list_limit` entries per category.
  std::string Summary(size_t list_limit) const;
};

// Compares `batch` with `online` (both the rows of one job, one kind).
ParityReport CompareRows(const std::string& job, RowKind kind, const ParityRange& range,
                         const BatchRows& batch, const BatchRows& online);

// Canonical JSON of a row (as the output topics carry it).
nlohmann::json RowJson(const SignalRecord& r);
nlohmann::json RowJson(const SegmentRecord& r);
nlohmann::json RowJson(const SessionRecord& r);

}  // namespace usp
