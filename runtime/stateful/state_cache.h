#pragma once
// The state values (and absences) of a stateful worker's owned partitions as
// last written or read, kept in memory so that a key's next record or timer
// does not read RocksDB; the store holds the same values. Bounded by an
// estimate of its bytes: passing the bound drops everything (the store still
// has it all). A partition's entries are dropped when it is gained or lost
// (another owner, or the changelog, may have written it meanwhile).
//
// Thread-compatible (the worker's loop thread).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

namespace usp {

class StateCache {
 public:
  // max_bytes 0: nothing is kept.
  explicit StateCache(size_t max_bytes) : max_bytes_(max_bytes) {}

  // The cached value of `key` (nullopt inside: known absent), or null.
  const std::optional<std::string>* Find(int32_t partition, const std::string& key) const {
    auto p = entries_.find(partition);
    if (p == entries_.end()) return nullptr;
    auto it = p->second.find(key);
    return it == p->second.end() ? nullptr : &it->second;
  }

  void Put(int32_t partition, std::string key, std::optional<std::string> value) {
    if (max_bytes_ == 0) return;
    const size_t cost = Cost(key, value);
    if (bytes_ + cost > max_bytes_) {
      entries_.clear();
      bytes_ = 0;
    }
    auto [it, inserted] = entries_[partition].try_emplace(std::move(key));
    if (!inserted) bytes_ -= Cost(it->first, it->second);
    it->second = std::move(value);
    bytes_ += cost;
  }

  void DropPartition(int32_t partition) {
    auto p = entries_.find(partition);
    if (p == entries_.end()) return;
    for (const auto& [key, value] : p->second) bytes_ -= Cost(key, value);
    entries_.erase(p);
  }

  size_t bytes() const { return bytes_; }

 private:
  // The key, the value and about what a hash node and its strings cost.
  static size_t Cost(const std::string& key, const std::optional<std::string>& value) {
    return key.size() + (value ? value->size() : 0) + 64;
  }

  size_t max_bytes_;
  size_t bytes_ = 0;
  std::unordered_map<int32_t, std::unordered_map<std::string, std::optional<std::string>>> entries_;
};

}  // namespace usp
