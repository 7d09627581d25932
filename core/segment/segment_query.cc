#include "core/segment/segment_query.h"

#include <iterator>
#include <map>
#include <string_view>

#include "core/segment/json_fields.h"
#include "core/signal_record.h"  // AppendJsonString

namespace usp {
namespace {

// Which of two records of the same membership describes it: the newer
// version; on a tie (never produced by one processor) an ended membership,
// then the later end, so the answer does not depend on input order.
bool Supersedes(const SegmentRecord& a, const SegmentRecord& b) {
  if (a.version != b.version) return a.version > b.version;
  if (a.in_segment != b.in_segment) return !a.in_segment;
  if (!a.expiration || !b.expiration) return !a.expiration && b.expiration;
  return *a.expiration > *b.expiration;
}

}  // namespace

std::vector<SegmentMembership> SegmentsAt(std::span<const SegmentRecord> records, int64_t at) {
  // segment -> start -> the record describing that membership.
  std::map<std::string_view, std::map<int64_t, const SegmentRecord*>> memberships;
  for (const SegmentRecord& record : records) {
    const SegmentRecord*& current = memberships[record.segment][record.start];
    if (current == nullptr || Supersedes(record, *current)) current = &record;
  }
  std::vector<SegmentMembership> answer;
  for (const auto& [segment, by_start] : memberships) {
    auto it = by_start.upper_bound(at);
    if (it == by_start.begin()) continue;  // nothing started by `at`
    const SegmentRecord& record = *std::prev(it)->second;
    SegmentMembership m;
    m.segment = std::string(segment);
    m.start = record.start;
    m.expiration = record.expiration;
    // An ended membership always has its end; an open one may have no expiry.
    m.in_segment = record.expiration ? at < *record.expiration : record.in_segment;
    answer.push_back(std::move(m));
  }
  return answer;
}

std::vector<SegmentMembership> SegmentsNow(std::span<const SegmentRecord> records, int64_t now_ms) {
  return SegmentsAt(records, now_ms);
}

void AppendSegmentMembershipJson(const SegmentMembership& membership, std::string* out) {
  out->append("{\"segment\":");
  AppendJsonString(membership.segment, out);
  out->append(membership.in_segment ? ",\"in_segment\":true" : ",\"in_segment\":false");
  out->append(",\"start\":");
  json_fields::AppendInt(membership.start, out);
  out->append(",\"expiration\":");
  json_fields::AppendOptionalInt(membership.expiration, out);
  out->push_back('}');
}

}  // namespace usp
