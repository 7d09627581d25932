#pragma once
// BatchRows: the rows a batch run computed for one job, one per identity
// (the identity the query service's store uses, runtime/store/signal_store.h):
//   signals  (signal, user, event time, event id)
//   segments (segment, user, start)
//   sessions (job, user, window start, window end)
// A later emission of the same identity replaces the earlier one (within a
// run the processors emit versions in increasing order), so after a run each
// identity holds its final content, as a store that keeps the newest version
// would. Maps are ordered by identity: writing and checkpoint positions are
// deterministic.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "core/segment/segment_record.h"
#include "core/session/session_record.h"
#include "core/signal_record.h"
#include "core/status.h"

namespace usp {

// The three kinds of output rows.
enum class RowKind { kSignal, kSegment, kSession };
const char* ToString(RowKind kind);  // "signal" | "segment" | "session"

using SignalIdentity = std::tuple<std::string, std::string, int64_t, std::string>;
using SegmentIdentity = std::tuple<std::string, std::string, int64_t>;
using SessionIdentity = std::tuple<std::string, std::string, int64_t, int64_t>;

SignalIdentity IdentityOf(const SignalRecord& r);
SegmentIdentity IdentityOf(const SegmentRecord& r);
SessionIdentity IdentityOf(const SessionRecord& r);

// Same content, `version` ignored (segments: `reason` is content).
bool SameContent(const SignalRecord& a, const SignalRecord& b);
bool SameContent(const SegmentRecord& a, const SegmentRecord& b);
bool SameContent(const SessionRecord& a, const SessionRecord& b);

// Names of the fields that differ, `version` ignored: "attributes",
// "in_segment", "expiration", "reason", "aggregations", "async_result".
std::vector<std::string> DiffFields(const SignalRecord& a, const SignalRecord& b);
std::vector<std::string> DiffFields(const SegmentRecord& a, const SegmentRecord& b);
std::vector<std::string> DiffFields(const SessionRecord& a, const SessionRecord& b);

struct BatchRows {
  std::map<SignalIdentity, SignalRecord> signals;
  std::map<SegmentIdentity, SegmentRecord> segments;
  std::map<SessionIdentity, SessionRecord> sessions;

  // Parses an output record of `kind` (its canonical JSON) and keeps it,
  // replacing an older or equal version of the same identity.
  Status Add(RowKind kind, std::string_view json);
  void Add(const SignalRecord& r);
  void Add(const SegmentRecord& r);
  void Add(const SessionRecord& r);

  size_t size() const { return signals.size() + segments.size() + sessions.size(); }
  // Every row with its version set to `version`.
  void SetVersion(int64_t version);
};

}  // namespace usp
