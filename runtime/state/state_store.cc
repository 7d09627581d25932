// StateStore on RocksDB, one column family:
//   'd' | partition:u32 | key  -> value        the state
//   'c' | partition:u32        -> next:i64     changelog position
#include "runtime/state/state_store.h"

#include <algorithm>

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

namespace usp {

namespace {

constexpr char kDataTag = 'd';
constexpr char kChangelogTag = 'c';
constexpr char kTimerPrefix[] = {'\0', 'T'};

void AppendU32(uint32_t v, std::string* out) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

void AppendI64(int64_t v, std::string* out) {
  // Sign bit flipped so that negative times sort before positive ones.
  const uint64_t u = static_cast<uint64_t>(v) ^ (uint64_t{1} << 63);
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(u >> shift));
}

int64_t ReadI64(std::string_view b) {
  uint64_t u = 0;
  for (int i = 0; i < 8; ++i) u = (u << 8) | static_cast<uint8_t>(b[i]);
  return static_cast<int64_t>(u ^ (uint64_t{1} << 63));
}

std::string PartitionPrefix(char tag, int32_t partition) {
  std::string key(1, tag);
  AppendU32(static_cast<uint32_t>(partition), &key);
  return key;
}

Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status::Ok();
  return Status::IoError(what + ": " + s.ToString());
}

class RocksStateStore : public StateStore {
 public:
  explicit RocksStateStore(std::unique_ptr<rocksdb::DB> db) : db_(std::move(db)) {
    // No write-ahead log: the changelog is the durable copy. What a crash
    // loses is the newest writes, never older ones (RocksDB then keeps a
    // prefix of the writes), and each owner's writes follow its owner marker
    // (stateful_worker.h): either the marker survived, and the partition is
    // rebuilt from the changelog, or none of the owner's writes did. A
    // follower's writes carry their changelog position in the same batch.
    // A clean close flushes the memtables (below). The WAL was a fifth of a join
    // worker's CPU (each state written twice).
    write_options_.disableWAL = true;
  }
  ~RocksStateStore() override {
    // Also RocksDB's own rule without a WAL (avoid_flush_during_shutdown is
    // off), made explicit: what a clean stop wrote is on disk.
    db_->Flush(rocksdb::FlushOptions());
  }

  Result<std::optional<std::string>> Get(int32_t partition, std::string_view key) const override {
    std::string k = PartitionPrefix(kDataTag, partition);
    k.append(key);
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), k, &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return FromRocks(s, "state get");
    return std::optional<std::string>(std::move(value));
  }

  Status Apply(int32_t partition, const std::vector<StateWrite>& writes,
               int64_t changelog_next) override {
    rocksdb::WriteBatch batch;
    const std::string prefix = PartitionPrefix(kDataTag, partition);
    // In key order (a key's own writes keep theirs): the memtable's skip
    // list then inserts each key next to the previous one instead of
    // searching from the top, which was a third of a SessionJob worker's CPU.
    sorted_.clear();
    for (const auto& w : writes) sorted_.push_back(&w);
    std::stable_sort(sorted_.begin(), sorted_.end(),
                     [](const StateWrite* a, const StateWrite* b) { return a->key < b->key; });
    std::string k;
    for (const StateWrite* w : sorted_) {
      k = prefix;
      k += w->key;
      if (w->value && !w->value->empty()) {
        batch.Put(k, *w->value);
      } else {
        batch.Delete(k);
      }
    }
    if (changelog_next >= 0) {
      std::string v;
      AppendI64(changelog_next, &v);
      batch.Put(PartitionPrefix(kChangelogTag, partition), v);
    }
    return FromRocks(db_->Write(write_options_, &batch), "state write");
  }

  int64_t ChangelogNext(int32_t partition) const override {
    std::string v;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), PartitionPrefix(kChangelogTag, partition), &v);
    if (!s.ok() || v.size() != 8) return 0;
    return ReadI64(v);
  }

  Status ScanFrom(int32_t partition, std::string_view prefix, std::string_view from,
                  const std::function<bool(std::string_view, std::string_view)>& fn) const override {
    std::string start = PartitionPrefix(kDataTag, partition);
    const size_t strip = start.size();
    start.append(prefix);
    const std::string seek = start + std::string(from);
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    for (it->Seek(seek); it->Valid(); it->Next()) {
      std::string_view key(it->key().data(), it->key().size());
      if (key.substr(0, start.size()) != start) break;
      std::string_view value(it->value().data(), it->value().size());
      if (!fn(key.substr(strip), value)) break;
    }
    return FromRocks(it->status(), "state scan");
  }

  Status DropPartition(int32_t partition) override {
    std::string begin = PartitionPrefix(kDataTag, partition);
    std::string end = PartitionPrefix(kDataTag, partition + 1);
    rocksdb::WriteBatch batch;
    batch.DeleteRange(begin, end);
    batch.Delete(PartitionPrefix(kChangelogTag, partition));
    return FromRocks(db_->Write(write_options_, &batch), "state drop partition");
  }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::WriteOptions write_options_;
  std::vector<const StateWrite*> sorted_;  // reused by Apply
};

}  // namespace

Result<std::unique_ptr<StateStore>> StateStore::Open(const std::string& path) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.compression = rocksdb::kZSTD;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, path, &raw);
  if (!s.ok()) return Status::IoError("open state store " + path + ": " + s.ToString());
  return std::unique_ptr<StateStore>(new RocksStateStore(std::unique_ptr<rocksdb::DB>(raw)));
}

std::string TimerKey(int64_t at_ms, std::string_view id) {
  std::string key(kTimerPrefix, sizeof kTimerPrefix);
  AppendI64(at_ms, &key);
  key.append(id);
  return key;
}

bool ParseTimerKey(std::string_view key, int64_t* at_ms, std::string* id) {
  if (key.size() < sizeof kTimerPrefix + 8 ||
      key.substr(0, sizeof kTimerPrefix) != std::string_view(kTimerPrefix, sizeof kTimerPrefix)) {
    return false;
  }
  *at_ms = ReadI64(key.substr(sizeof kTimerPrefix, 8));
  id->assign(key.substr(sizeof kTimerPrefix + 8));
  return true;
}

Result<std::vector<std::pair<int64_t, std::string>>> DueTimers(
    const StateStore& store, int32_t partition, int64_t now_ms, size_t max, int64_t after_ms) {
  std::vector<std::pair<int64_t, std::string>> due;
  if (after_ms >= now_ms) return due;
  std::string from;  // the time part of the first key to read
  if (after_ms != INT64_MIN) AppendI64(after_ms + 1, &from);
  Status s = store.ScanFrom(partition, std::string_view(kTimerPrefix, sizeof kTimerPrefix), from,
                            [&](std::string_view key, std::string_view) {
                              int64_t at = 0;
                              std::string id;
                              if (!ParseTimerKey(key, &at, &id) || at > now_ms) return false;
                              due.emplace_back(at, std::move(id));
                              return due.size() < max;
                            });
  if (!s.ok()) return s;
  return due;
}

}  // namespace usp
