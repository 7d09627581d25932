#include "runtime/batch/batch_rows.h"

namespace usp {

const char* ToString(RowKind kind) {
  switch (kind) {
    case RowKind::kSignal:
      return "signal";
    case RowKind::kSegment:
      return "segment";
    case RowKind::kSession:
      return "session";
  }
  return "?";
}

SignalIdentity IdentityOf(const SignalRecord& r) {
  return {r.signal, r.user_id, r.event_time, r.event_id};
}
SegmentIdentity IdentityOf(const SegmentRecord& r) { return {r.segment, r.user_id, r.start}; }
SessionIdentity IdentityOf(const SessionRecord& r) {
  return {r.job, r.user_id, r.window_start, r.window_end};
}

std::vector<std::string> DiffFields(const SignalRecord& a, const SignalRecord& b) {
  std::vector<std::string> out;
  if (a.attributes_json != b.attributes_json) out.push_back("attributes");
  if (IdentityOf(a) != IdentityOf(b)) out.push_back("identity");
  return out;
}

std::vector<std::string> DiffFields(const SegmentRecord& a, const SegmentRecord& b) {
  std::vector<std::string> out;
  if (a.in_segment != b.in_segment) out.push_back("in_segment");
  if (a.expiration != b.expiration) out.push_back("expiration");
  if (a.reason != b.reason) out.push_back("reason");
  if (IdentityOf(a) != IdentityOf(b)) out.push_back("identity");
  return out;
}

std::vector<std::string> DiffFields(const SessionRecord& a, const SessionRecord& b) {
  std::vector<std::string> out;
  if (a.aggregations_json != b.aggregations_json) out.push_back("aggregations");
  if (a.async_result_json != b.async_result_json) out.push_back("async_result");
  if (IdentityOf(a) != IdentityOf(b)) out.push_back("identity");
  return out;
}

bool SameContent(const SignalRecord& a, const SignalRecord& b) { return DiffFields(a, b).empty(); }
bool SameContent(const SegmentRecord& a, const SegmentRecord& b) {
  return DiffFields(a, b).empty();
}
bool SameContent(const SessionRecord& a, const SessionRecord& b) {
  return DiffFields(a, b).empty();
}

namespace {

template <typename Map, typename Record>
void Keep(Map* map, const Record& r) {
  auto [it, inserted] = map->try_emplace(IdentityOf(r), r);
  if (!inserted && r.version >= it->second.version) it->second = r;
}

}  // namespace

void BatchRows::Add(const SignalRecord& r) { Keep(&signals, r); }
void BatchRows::Add(const SegmentRecord& r) { Keep(&segments, r); }
void BatchRows::Add(const SessionRecord& r) { Keep(&sessions, r); }

Status BatchRows::Add(RowKind kind, std::string_view json) {
  switch (kind) {
    case RowKind::kSignal: {
      auto r = ParseSignalRecord(json);
      if (!r.ok()) return r.status();
      Add(*r);
      return Status::Ok();
    }
    case RowKind::kSegment: {
      auto r = ParseSegmentRecord(json);
      if (!r.ok()) return r.status();
      Add(*r);
      return Status::Ok();
    }
    case RowKind::kSession: {
      auto r = ParseSessionRecord(json);
      if (!r.ok()) return r.status();
      Add(*r);
      return Status::Ok();
    }
  }
  return Status::Internal("unknown row kind");
}

void BatchRows::SetVersion(int64_t version) {
  for (auto& [id, r] : signals) r.version = version;
  for (auto& [id, r] : segments) r.version = version;
  for (auto& [id, r] : sessions) r.version = version;
}

}  // namespace usp
