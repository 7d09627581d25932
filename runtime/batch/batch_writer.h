#pragma once
// Where a backfill's rows go: the query service's store (StoreRowWriter) or
// the job's output topic (TopicRowWriter, kafka_range.h). Rows are written in
// identity order (RowList), a chunk at a time, so a checkpoint can say how
// far a run got (`position` = rows handled: written or skipped).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "runtime/batch/batch_rows.h"
#include "runtime/batch/parity_report.h"
#include "runtime/store/signal_store.h"

namespace usp {

// The rows of one kind in identity order.
struct RowList {
  RowKind kind = RowKind::kSignal;
  std::vector<SignalRecord> signals;
  std::vector<SegmentRecord> segments;
  std::vector<SessionRecord> sessions;
  size_t size() const { return signals.size() + segments.size() + sessions.size(); }
  // user_id and canonical JSON of row i.
  const std::string& UserOf(size_t i) const;
  std::string JsonOf(size_t i) const;
};
RowList ToRowList(const BatchRows& rows, RowKind kind);

struct WriteCounts {
  int64_t written = 0;
  int64_t unchanged = 0;  // skipped: the newest stored version has the same content
};

class RowWriter {
 public:
  virtual ~RowWriter() = default;
  // Writes rows [begin, end) of `rows`, durably before returning.
  virtual Status Write(const RowList& rows, size_t begin, size_t end, WriteCounts* counts) = 0;
};

// Reads the newest version of every row of job `name` (rows of `kind`)
// within `range` from `store` into *out.
Status LoadStoreRows(const SignalStore& store, RowKind kind, const std::string& name,
                     const ParityRange& range, BatchRows* out);

// Writes rows into `store` (which must outlive the writer) with
// SignalStore::Apply, skipping a row whose identity's newest stored version
// has the same content (version ignored): a second run writes nothing.
// Reads the job's existing rows once, at Create.
class StoreRowWriter : public RowWriter {
 public:
  static Result<std::unique_ptr<StoreRowWriter>> Create(SignalStore* store, RowKind kind,
                                                        const std::string& name);
  Status Write(const RowList& rows, size_t begin, size_t end, WriteCounts* counts) override;

 private:
  StoreRowWriter(SignalStore* store) : store_(store) {}
  SignalStore* store_;
  BatchRows existing_;
};

}  // namespace usp
