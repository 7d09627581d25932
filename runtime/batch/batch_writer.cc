#include "runtime/batch/batch_writer.h"

namespace usp {

const std::string& RowList::UserOf(size_t i) const {
  switch (kind) {
    case RowKind::kSignal:
      return signals[i].user_id;
    case RowKind::kSegment:
      return segments[i].user_id;
    case RowKind::kSession:
      break;
  }
  return sessions[i].user_id;
}

std::string RowList::JsonOf(size_t i) const {
  switch (kind) {
    case RowKind::kSignal:
      return SerializeSignalRecord(signals[i]);
    case RowKind::kSegment:
      return SerializeSegmentRecord(segments[i]);
    case RowKind::kSession:
      break;
  }
  return SerializeSessionRecord(sessions[i]);
}

RowList ToRowList(const BatchRows& rows, RowKind kind) {
  RowList list;
  list.kind = kind;
  switch (kind) {
    case RowKind::kSignal:
      for (const auto& [id, r] : rows.signals) list.signals.push_back(r);
      break;
    case RowKind::kSegment:
      for (const auto& [id, r] : rows.segments) list.segments.push_back(r);
      break;
    case RowKind::kSession:
      for (const auto& [id, r] : rows.sessions) list.sessions.push_back(r);
      break;
  }
  return list;
}

Status LoadStoreRows(const SignalStore& store, RowKind kind, const std::string& name,
                     const ParityRange& range, BatchRows* out) {
  StoreScan scan;
  scan.names.insert(name);
  scan.start = range.start;
  scan.end = range.end;
  switch (kind) {
    case RowKind::kSignal:
      return store.ScanSignals(scan, [out](const SignalRecord& r) {
        out->Add(r);
        return true;
      });
    case RowKind::kSegment:
      return store.ScanSegments(scan, [out](const SegmentRecord& r) {
        out->Add(r);
        return true;
      });
    case RowKind::kSession:
      break;
  }
  return store.ScanSessions(scan, [out](const SessionRecord& r) {
    out->Add(r);
    return true;
  });
}

Result<std::unique_ptr<StoreRowWriter>> StoreRowWriter::Create(SignalStore* store, RowKind kind,
                                                               const std::string& name) {
  std::unique_ptr<StoreRowWriter> w(new StoreRowWriter(store));
  USP_RETURN_IF_ERROR(LoadStoreRows(*store, kind, name, ParityRange{}, &w->existing_));
  return w;
}

namespace {

template <typename Map, typename Record>
bool Unchanged(const Map& existing, const Record& r) {
  auto it = existing.find(IdentityOf(r));
  return it != existing.end() && SameContent(it->second, r);
}

}  // namespace

Status StoreRowWriter::Write(const RowList& rows, size_t begin, size_t end, WriteCounts* counts) {
  StoreBatch batch;
  for (size_t i = begin; i < end && i < rows.size(); ++i) {
    switch (rows.kind) {
      case RowKind::kSignal:
        if (Unchanged(existing_.signals, rows.signals[i])) {
          ++counts->unchanged;
        } else {
          batch.signals.push_back(rows.signals[i]);
        }
        break;
      case RowKind::kSegment:
        if (Unchanged(existing_.segments, rows.segments[i])) {
          ++counts->unchanged;
        } else {
          batch.segments.push_back(rows.segments[i]);
        }
        break;
      case RowKind::kSession:
        if (Unchanged(existing_.sessions, rows.sessions[i])) {
          ++counts->unchanged;
        } else {
          batch.sessions.push_back(rows.sessions[i]);
        }
        break;
    }
  }
  const size_t n = batch.signals.size() + batch.segments.size() + batch.sessions.size();
  if (n == 0) return Status::Ok();
  USP_RETURN_IF_ERROR(store_->Apply(batch));
  for (const auto& r : batch.signals) existing_.Add(r);
  for (const auto& r : batch.segments) existing_.Add(r);
  for (const auto& r : batch.sessions) existing_.Add(r);
  counts->written += static_cast<int64_t>(n);
  return Status::Ok();
}

}  // namespace usp
