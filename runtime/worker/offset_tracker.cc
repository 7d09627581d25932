#include "runtime/worker/offset_tracker.h"

#include <algorithm>

namespace usp {

bool PartitionOffsetTracker::Begin(int64_t offset, const InFlightTimes& times) {
  if (offset < 0 || offset < next_offset_) return false;
  entries_.push_back({offset, State::kInFlight, times});
  next_offset_ = offset + 1;
  return true;
}

PartitionOffsetTracker::Entry* PartitionOffsetTracker::Find(int64_t offset) {
  // Entries are sorted by offset; acks mostly hit the front.
  auto it = std::lower_bound(entries_.begin(), entries_.end(), offset,
                             [](const Entry& e, int64_t o) { return e.offset < o; });
  if (it == entries_.end() || it->offset != offset) return nullptr;
  return &*it;
}

bool PartitionOffsetTracker::Ack(int64_t offset, InFlightTimes* times) {
  Entry* e = Find(offset);
  if (e == nullptr || e->state != State::kInFlight) return false;
  e->state = State::kDone;
  if (times != nullptr) *times = e->times;
  Advance();
  return true;
}

bool PartitionOffsetTracker::Fail(int64_t offset) {
  Entry* e = Find(offset);
  if (e == nullptr || e->state != State::kInFlight) return false;
  e->state = State::kFailed;
  failed_ = true;
  return true;
}

void PartitionOffsetTracker::Advance() {
  while (!entries_.empty() && entries_.front().state == State::kDone) {
    committable_ = entries_.front().offset + 1;
    entries_.pop_front();
  }
}

}  // namespace usp
