#pragma once
// Keeps a StateStore up to date from the job's changelog topic: a warm
// standby follows every partition it does not own, so that taking one over
// only means reading the few records it is behind (CatchUp). Also restores a
// store from nothing (a new pod). Records: key = state key, value = state
// bytes, empty/null value = deleted (see state_store.h).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "runtime/kafka/kafka_client.h"
#include "runtime/state/state_store.h"

namespace usp {

// The changelog topic of a stateful job: "usp.changelog.<kind>.<name>",
// e.g. usp.changelog.usersegment.active-trip-planner.
std::string ChangelogTopic(const std::string& kind, const std::string& name);

// What a stateful worker needs of a changelog reader (a fake in unit tests).
class ChangelogFollower {
 public:
  virtual ~ChangelogFollower() = default;
  virtual Status Follow(std::vector<int32_t> partitions) = 0;
  virtual Result<int64_t> Poll(int timeout_ms) = 0;
  virtual Status CatchUp(int32_t partition, int timeout_ms) = 0;
  // CatchUp of every one of `partitions`; returns once all are caught up.
  // This default does them one after another; a reader should do them at
  // once (one wait, not one per partition).
  virtual Status CatchUpAll(const std::vector<int32_t>& partitions, int timeout_ms) {
    for (int32_t p : partitions) USP_RETURN_IF_ERROR(CatchUp(p, timeout_ms));
    return Status::Ok();
  }
  virtual int64_t Lag() = 0;
};

class ChangelogReader : public ChangelogFollower {
 public:
  // `store` must outlive the reader.
  static Result<std::unique_ptr<ChangelogReader>> Create(const std::string& bootstrap,
                                                         const std::string& topic,
                                                         StateStore* store,
                                                         const KafkaProperties& properties = {});

  // Follows exactly `partitions`, each from store->ChangelogNext(p).
  Status Follow(std::vector<int32_t> partitions) override;
  const std::vector<int32_t>& following() const { return following_; }

  // Applies what has arrived (one store write per partition per batch),
  // waiting at most `timeout_ms` for the first record. Returns how many
  // records were applied.
  Result<int64_t> Poll(int timeout_ms) override;

  // Reads `partition` up to the changelog's end as of now, then goes back to
  // following what it followed. Unavailable when it made no progress for
  // `timeout_ms` (CatchUpAll of one partition).
  Status CatchUp(int32_t partition, int timeout_ms) override;

  // Reads every one of `partitions` up to the changelog's end as of the call
  // (the high watermarks, asked for all partitions concurrently), all in one
  // fetch loop, then goes back to following what it followed. A partition
  // whose store is already at its end (a warm standby's) costs only its
  // watermark query; when all are, nothing is fetched or reassigned. The
  // watermark queries wait at most `timeout_ms`; then Unavailable (naming
  // a partition not caught up) once no partition still behind advanced for
  // `timeout_ms`.
  Status CatchUpAll(const std::vector<int32_t>& partitions, int timeout_ms) override;

  // Records not yet applied, summed over the followed partitions, from the
  // last fetched watermarks; -1 while unknown.
  int64_t Lag() override;

 private:
  ChangelogReader(std::unique_ptr<KafkaConsumer> consumer, std::string topic, StateStore* store)
      : consumer_(std::move(consumer)), topic_(std::move(topic)), store_(store) {}
  Status AssignAll(const std::vector<int32_t>& partitions);
  // The high watermark of each of `partitions` (same order), queried
  // concurrently: each query may wait behind an outstanding fetch.
  Result<std::vector<int64_t>> HighWatermarks(const std::vector<int32_t>& partitions,
                                              int timeout_ms);

  std::unique_ptr<KafkaConsumer> consumer_;
  std::string topic_;
  StateStore* store_;
  std::vector<int32_t> following_;
  std::vector<ConsumedMessage> batch_;
};

}  // namespace usp
