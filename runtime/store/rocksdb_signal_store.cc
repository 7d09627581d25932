// SignalStore on RocksDB. Four column families:
//   "signals":  signal rows (layout in signal_key.h), compressed, prefix bloom
//               on partition|user so a lookup of an absent user is cheap.
//   "segments": segment rows, same options.
//   "sessions": session rows, same options.
//   "default":  metadata: the partition count, consumed offsets, freshness.
#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <stdlib.h>

#include <algorithm>
#include <mutex>
#include <string_view>
#include <tuple>

#include "core/murmur2.h"
#include "runtime/store/signal_key.h"
#include "runtime/store/signal_store.h"

namespace usp {

namespace {

constexpr char kSignalsFamily[] = "signals";
constexpr char kSegmentsFamily[] = "segments";
constexpr char kSessionsFamily[] = "sessions";
constexpr char kPartitionsKey[] = "partitions";
constexpr char kOffsetTag = 'o';     // 'o' | len(topic) topic | partition:u32 -> next:i64
constexpr char kFreshnessTag = 'w';  // 'w' | signal -> watermark:i64

std::string EncodeI64(int64_t v) {
  std::string out;
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>(static_cast<uint64_t>(v) >> shift));
  }
  return out;
}

int64_t DecodeI64(std::string_view b) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(b[i]);
  return static_cast<int64_t>(v);
}

std::string OffsetKey(const std::string& topic, int32_t partition) {
  std::string key(1, kOffsetTag);
  AppendU32(static_cast<uint32_t>(topic.size()), &key);
  key += topic;
  AppendU32(static_cast<uint32_t>(partition), &key);
  return key;
}

std::string FreshnessKey(std::string_view signal) {
  std::string key(1, kFreshnessTag);
  key += signal;
  return key;
}

Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status::Ok();
  if (s.IsInvalidArgument()) return Status::InvalidArgument(what + ": " + s.ToString());
  return Status::IoError(what + ": " + s.ToString());
}

// Extracts partition | len(user) user, the prefix shared by one user's rows.
class UserPrefixTransform : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "usp.UserPrefix.v1"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return rocksdb::Slice(key.data(), PrefixSize(key));
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    return key.size() >= 8 && key.size() >= PrefixSize(key);
  }

 private:
  static size_t PrefixSize(const rocksdb::Slice& key) {
    return 8 + DecodeU32(std::string_view(key.data() + 4, 4));
  }
};

// The best compression this RocksDB build supports, by ratio.
rocksdb::CompressionType BestCompression() {
  std::vector<rocksdb::CompressionType> supported = rocksdb::GetSupportedCompressions();
  for (rocksdb::CompressionType wanted :
       {rocksdb::kZSTD, rocksdb::kLZ4Compression, rocksdb::kSnappyCompression}) {
    if (std::find(supported.begin(), supported.end(), wanted) != supported.end()) return wanted;
  }
  return rocksdb::kNoCompression;
}

const char* CompressionName(rocksdb::CompressionType type) {
  switch (type) {
    case rocksdb::kZSTD:
      return "ZSTD";
    case rocksdb::kLZ4Compression:
      return "LZ4";
    case rocksdb::kSnappyCompression:
      return "Snappy";
    default:
      return "none";
  }
}

class RocksDbSignalStore : public SignalStore {
 public:
  ~RocksDbSignalStore() override {
    for (rocksdb::ColumnFamilyHandle* handle : handles_) {
      db_->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
    }
    if (db_ != nullptr) db_->Close().PermitUncheckedError();
    db_.reset();
    if (!secondary_dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(secondary_dir_, ec);
    }
  }

  // Opens the store in `dir`; read-write (creating it if missing) or, with
  // `read_only`, as a secondary instance caught up once with the writer.
  Status Init(const std::filesystem::path& dir, const SignalStoreOptions& options, bool read_only) {
    read_only_ = read_only;
    compression_ = BestCompression();
    rocksdb::DBOptions db_options;
    db_options.create_if_missing = !read_only;
    db_options.create_missing_column_families = !read_only;
    db_options.keep_log_file_num = 4;
    // A secondary must keep every table file open: the writer may delete
    // files it compacted away while a scan still reads them.
    if (read_only) db_options.max_open_files = -1;

    rocksdb::ColumnFamilyOptions meta_options;

    rocksdb::ColumnFamilyOptions row_options;
    row_options.compression = compression_;
    row_options.bottommost_compression = compression_;
    row_options.prefix_extractor = std::make_shared<UserPrefixTransform>();
    row_options.memtable_prefix_bloom_size_ratio = 0.05;
    rocksdb::BlockBasedTableOptions table;
    table.block_size = 16 * 1024;  // larger blocks compress the repetitive JSON better
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    table.whole_key_filtering = false;
    table.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
    row_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

    std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, meta_options},
        {kSignalsFamily, row_options},
        {kSegmentsFamily, row_options},
        {kSessionsFamily, row_options}};
    rocksdb::DB* db = nullptr;
    std::error_code ec;
    if (read_only) {
      if (!std::filesystem::exists(dir / "CURRENT", ec)) {
        return Status::NotFound("no store in " + dir.string());
      }
      std::string tmpl =
          (std::filesystem::temp_directory_path(ec) / "usp-store-reader-XXXXXX").string();
      if (ec || mkdtemp(tmpl.data()) == nullptr) {
        return Status::IoError("cannot create a temporary directory for the store reader");
      }
      secondary_dir_ = tmpl;
      USP_RETURN_IF_ERROR(
          FromRocks(rocksdb::DB::OpenAsSecondary(db_options, dir.string(), secondary_dir_.string(),
                                                 families, &handles_, &db),
                    "cannot open the store in " + dir.string() + " read-only"));
      db_.reset(db);
      // Replays the writer's MANIFEST and WAL: rows not yet flushed are seen too.
      USP_RETURN_IF_ERROR(
          FromRocks(db_->TryCatchUpWithPrimary(), "cannot read the store in " + dir.string()));
    } else {
      std::filesystem::create_directories(dir, ec);
      if (ec) return Status::IoError("cannot create " + dir.string() + ": " + ec.message());
      USP_RETURN_IF_ERROR(
          FromRocks(rocksdb::DB::Open(db_options, dir.string(), families, &handles_, &db),
                    "cannot open the store in " + dir.string()));
      db_.reset(db);
    }
    meta_ = handles_[0];
    rows_ = handles_[1];
    segments_ = handles_[2];
    sessions_ = handles_[3];

    Status partitions = InitPartitions(options.partitions);
    if (read_only && partitions.code() == Status::Code::kInvalidArgument) {
      return Status::NotFound("no store in " + dir.string() + " (it has no partition count)");
    }
    USP_RETURN_IF_ERROR(partitions);
    return LoadFreshness();
  }

  int32_t partitions() const override { return partitions_; }

  Status Apply(const StoreBatch& input) override {
    if (read_only_) return Status::InvalidArgument("the store is open read-only");
    std::lock_guard<std::mutex> write_lock(write_mutex_);
    rocksdb::WriteBatch batch;
    std::map<std::string, int64_t> advanced;
    for (const SegmentRecord& record : input.segments) {
      int32_t partition = PartitionForKey(record.user_id, partitions_);
      USP_RETURN_IF_ERROR(FromRocks(
          batch.Put(segments_, EncodeSegmentKey(partition, record), EncodeSegmentValue(record)),
          "batch"));
    }
    for (const SessionRecord& record : input.sessions) {
      int32_t partition = PartitionForKey(record.user_id, partitions_);
      USP_RETURN_IF_ERROR(FromRocks(
          batch.Put(sessions_, EncodeSessionKey(partition, record), EncodeSessionValue(record)),
          "batch"));
    }
    {
      std::lock_guard<std::mutex> lock(freshness_mutex_);
      for (const SignalRecord& record : input.signals) {
        int32_t partition = PartitionForKey(record.user_id, partitions_);
        USP_RETURN_IF_ERROR(FromRocks(
            batch.Put(rows_, EncodeRowKey(partition, record), EncodeRowValue(record)), "batch"));
        auto known = freshness_.find(record.signal);
        if (known != freshness_.end() && known->second >= record.event_time) continue;
        auto [it, inserted] = advanced.emplace(record.signal, record.event_time);
        if (!inserted) it->second = std::max(it->second, record.event_time);
      }
    }
    for (const auto& [signal, watermark] : advanced) {
      USP_RETURN_IF_ERROR(
          FromRocks(batch.Put(meta_, FreshnessKey(signal), EncodeI64(watermark)), "batch"));
    }
    for (const PartitionOffset& offset : input.offsets) {
      USP_RETURN_IF_ERROR(FromRocks(batch.Put(meta_, OffsetKey(offset.topic, offset.partition),
                                              EncodeI64(offset.next_offset)),
                                    "batch"));
    }
    USP_RETURN_IF_ERROR(FromRocks(db_->Write(rocksdb::WriteOptions(), &batch), "write"));
    std::lock_guard<std::mutex> lock(freshness_mutex_);
    for (const auto& [signal, watermark] : advanced) freshness_[signal] = watermark;
    return Status::Ok();
  }

  Result<std::vector<SignalRecord>> Query(const SignalQuery& query) const override {
    return QueryAt(query, nullptr);
  }

  Status VisitQuery(const SignalQuery& query,
                    const std::function<void(const SignalRowView&)>& visit) const override {
    return ForEachRow(query, nullptr, visit);
  }

  Result<std::vector<SegmentRecord>> QuerySegments(const SegmentQuery& query) const override {
    return QuerySegmentsAt(query, nullptr);
  }

  Result<std::vector<SessionRecord>> QuerySessions(const SessionQuery& query) const override {
    return QuerySessionsAt(query, nullptr);
  }

  Result<UserProfile> QueryProfile(const SignalQuery& signals, const SegmentQuery& segments,
                                   const SessionQuery& sessions) const override {
    // A secondary instance takes no snapshots; its view changes only on a
    // catch-up, which happens once, at the open.
    const rocksdb::Snapshot* snapshot = read_only_ ? nullptr : db_->GetSnapshot();
    UserProfile profile;
    Status status = [&]() -> Status {
      auto s = QueryAt(signals, snapshot);
      if (!s.ok()) return s.status();
      profile.signals = std::move(s).value();
      auto g = QuerySegmentsAt(segments, snapshot);
      if (!g.ok()) return g.status();
      profile.segments = std::move(g).value();
      auto w = QuerySessionsAt(sessions, snapshot);
      if (!w.ok()) return w.status();
      profile.sessions = std::move(w).value();
      return Status::Ok();
    }();
    if (snapshot != nullptr) db_->ReleaseSnapshot(snapshot);
    if (!status.ok()) return status;
    return profile;
  }

  Status ScanSignals(const StoreScan& scan,
                     const std::function<bool(const SignalRecord&)>& visit) const override {
    if (scan.start >= scan.end) return Status::Ok();
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ScanOptions(), rows_));
    std::string last_identity;
    SignalRecord record;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      std::string_view key(it->key().data(), it->key().size());
      std::optional<std::string_view> user = UserOfKey(key);
      if (!user) return Status::Internal("malformed row key in the store");
      // Versions of one identity are adjacent, newest first: keep the first.
      std::string_view identity = key.substr(0, key.size() - 8);
      if (identity == last_identity) continue;
      last_identity.assign(identity);
      std::optional<RowKeySuffix> suffix = DecodeRowKeySuffix(key, 8 + user->size());
      if (!suffix) return Status::Internal("malformed row key in the store");
      if (suffix->event_time < scan.start || suffix->event_time >= scan.end) continue;
      if (!scan.names.empty() && !scan.names.contains(suffix->signal)) continue;
      std::optional<std::string_view> attributes =
          DecodeRowValue(std::string_view(it->value().data(), it->value().size()));
      if (!attributes) return Status::Internal("row value in an unknown format");
      record.user_id.assign(*user);
      record.signal.assign(suffix->signal);
      record.event_time = suffix->event_time;
      record.event_id.assign(suffix->event_id);
      record.version = suffix->version;
      record.attributes_json.assign(*attributes);
      if (!visit(record)) return Status::Ok();
    }
    return FromRocks(it->status(), "scan signals");
  }

  Status ScanSegments(const StoreScan& scan,
                      const std::function<bool(const SegmentRecord&)>& visit) const override {
    if (scan.start >= scan.end) return Status::Ok();
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ScanOptions(), segments_));
    std::string last_identity;
    SegmentRecord record;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      std::string_view key(it->key().data(), it->key().size());
      std::optional<std::string_view> user = UserOfKey(key);
      if (!user || key.size() < 8) return Status::Internal("malformed segment row in the store");
      std::string_view identity = key.substr(0, key.size() - 8);
      if (identity == last_identity) continue;
      last_identity.assign(identity);
      if (!DecodeSegmentRow(key, 8 + user->size(),
                            std::string_view(it->value().data(), it->value().size()), &record)) {
        return Status::Internal("malformed segment row in the store");
      }
      if (record.start < scan.start || record.start >= scan.end) continue;
      if (!scan.names.empty() && !scan.names.contains(record.segment)) continue;
      record.user_id.assign(*user);
      if (!visit(record)) return Status::Ok();
    }
    return FromRocks(it->status(), "scan segments");
  }

  Status ScanSessions(const StoreScan& scan,
                      const std::function<bool(const SessionRecord&)>& visit) const override {
    if (scan.start >= scan.end) return Status::Ok();
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ScanOptions(), sessions_));
    std::string last_identity;
    SessionRecord record;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      std::string_view key(it->key().data(), it->key().size());
      std::optional<std::string_view> user = UserOfKey(key);
      if (!user || key.size() < 8) return Status::Internal("malformed session row in the store");
      std::string_view identity = key.substr(0, key.size() - 8);
      if (identity == last_identity) continue;
      last_identity.assign(identity);
      if (!DecodeSessionRow(key, 8 + user->size(),
                            std::string_view(it->value().data(), it->value().size()), &record)) {
        return Status::Internal("malformed session row in the store");
      }
      if (record.window_end < scan.start || record.window_end >= scan.end) continue;
      if (!scan.names.empty() && !scan.names.contains(record.job)) continue;
      record.user_id.assign(*user);
      if (!visit(record)) return Status::Ok();
    }
    return FromRocks(it->status(), "scan sessions");
  }

 private:
  // A whole-family scan crosses user prefixes, so the prefix bloom must not
  // narrow it. The iterator is the consistent snapshot (RocksDB pins one).
  static rocksdb::ReadOptions ScanOptions() {
    rocksdb::ReadOptions options;
    options.total_order_seek = true;
    options.fill_cache = false;  // a scan would evict the query service's hot blocks
    return options;
  }

  // The user id of a row key (partition:u32 | len:u32 user | ...).
  static std::optional<std::string_view> UserOfKey(std::string_view key) {
    if (key.size() < 8) return std::nullopt;
    uint32_t len = DecodeU32(key.substr(4, 4));
    if (key.size() - 8 < len) return std::nullopt;
    return key.substr(8, len);
  }

  // The rows Query() answers, newest first, each handed to `visit` as views
  // into the iterator's buffers (no copies).
  template <typename Visit>
  Status ForEachRow(const SignalQuery& query, const rocksdb::Snapshot* snapshot,
                    const Visit& visit) const {
    if (query.limit <= 0 || query.start >= query.end) return Status::Ok();
    int32_t partition = PartitionForKey(query.user_id, partitions_);
    const std::string prefix = EncodeUserPrefix(partition, query.user_id);
    // `end` is exclusive: start at the newest row with event_time <= end - 1.
    std::string seek = prefix;
    AppendInvertedTime(query.end - 1, &seek);
    // Rows with event_time < start sort after prefix|~(start - 1).
    std::string upper;
    rocksdb::Slice upper_slice;
    rocksdb::ReadOptions read_options;
    read_options.snapshot = snapshot;
    if (query.start > std::numeric_limits<int64_t>::min()) {
      // The bound ends the scan inside the user's prefix; the loop's own
      // prefix check below makes prefix_same_as_start (a prefix extraction
      // and compare on every Next) unnecessary.
      upper = prefix;
      AppendInvertedTime(query.start - 1, &upper);
      upper_slice = upper;
      read_options.iterate_upper_bound = &upper_slice;
    } else {
      read_options.prefix_same_as_start = true;
    }
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options, rows_));
    // Versions of one identity are adjacent, newest first: keep the first.
    std::string last_identity;
    int32_t visited = 0;
    SignalRowView row;
    for (it->Seek(seek); it->Valid(); it->Next()) {
      std::string_view key(it->key().data(), it->key().size());
      if (!key.starts_with(prefix)) break;
      std::optional<RowKeySuffix> suffix = DecodeRowKeySuffix(key, prefix.size());
      if (!suffix) return Status::Internal("malformed row key in the store");
      if (suffix->event_time < query.start) break;
      std::string_view identity = key.substr(0, key.size() - 8);
      if (identity == last_identity) continue;
      last_identity.assign(identity);
      if (!query.types.empty() && !query.types.contains(suffix->signal)) continue;
      std::optional<std::string_view> attributes =
          DecodeRowValue(std::string_view(it->value().data(), it->value().size()));
      if (!attributes) return Status::Internal("row value in an unknown format");
      row.signal = suffix->signal;
      row.event_time = suffix->event_time;
      row.event_id = suffix->event_id;
      row.version = suffix->version;
      row.attributes_json = *attributes;
      visit(row);
      if (++visited >= query.limit) break;
    }
    return FromRocks(it->status(), "read");
  }

  Result<std::vector<SignalRecord>> QueryAt(const SignalQuery& query,
                                            const rocksdb::Snapshot* snapshot) const {
    std::vector<SignalRecord> out;
    out.reserve(static_cast<size_t>(std::clamp(query.limit, 0, 1000)));
    USP_RETURN_IF_ERROR(ForEachRow(query, snapshot, [&](const SignalRowView& row) {
      SignalRecord& record = out.emplace_back();
      record.user_id = query.user_id;
      record.signal = row.signal;
      record.event_time = row.event_time;
      record.event_id = row.event_id;
      record.version = row.version;
      record.attributes_json = row.attributes_json;
    }));
    return out;
  }

  Result<std::vector<SegmentRecord>> QuerySegmentsAt(const SegmentQuery& query,
                                                     const rocksdb::Snapshot* snapshot) const {
    std::vector<SegmentRecord> out;
    int32_t partition = PartitionForKey(query.user_id, partitions_);
    const std::string prefix = EncodeUserPrefix(partition, query.user_id);
    rocksdb::ReadOptions read_options;
    read_options.prefix_same_as_start = true;
    read_options.snapshot = snapshot;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options, segments_));
    // Per segment: memberships latest start first, versions newest first.
    // The first row with start <= at is the answer for its segment.
    std::string done_segment;
    bool have_done = false;
    SegmentRecord record;
    for (it->Seek(prefix); it->Valid(); it->Next()) {
      std::string_view key(it->key().data(), it->key().size());
      if (!key.starts_with(prefix)) break;
      if (!DecodeSegmentRow(key, prefix.size(),
                            std::string_view(it->value().data(), it->value().size()), &record)) {
        return Status::Internal("malformed segment row in the store");
      }
      if (have_done && record.segment == done_segment) continue;
      if (record.start > query.at) continue;
      if (!query.segments.empty() && !query.segments.contains(record.segment)) continue;
      done_segment = record.segment;
      have_done = true;
      record.user_id = query.user_id;
      out.push_back(record);
    }
    USP_RETURN_IF_ERROR(FromRocks(it->status(), "read segments"));
    // Keys order segments by length-prefixed name; answer by name.
    std::sort(out.begin(), out.end(),
              [](const SegmentRecord& a, const SegmentRecord& b) { return a.segment < b.segment; });
    return out;
  }

  Result<std::vector<SessionRecord>> QuerySessionsAt(const SessionQuery& query,
                                                     const rocksdb::Snapshot* snapshot) const {
    std::vector<SessionRecord> out;
    if (query.limit <= 0) return out;
    int32_t partition = PartitionForKey(query.user_id, partitions_);
    const std::string prefix = EncodeUserPrefix(partition, query.user_id);
    rocksdb::ReadOptions read_options;
    read_options.prefix_same_as_start = true;
    read_options.snapshot = snapshot;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options, sessions_));
    std::string last_identity;
    for (it->Seek(prefix); it->Valid(); it->Next()) {
      std::string_view key(it->key().data(), it->key().size());
      if (!key.starts_with(prefix)) break;
      std::string_view identity = key.substr(0, key.size() - 8);
      if (identity == last_identity) continue;
      last_identity.assign(identity);
      SessionRecord record;
      if (!DecodeSessionRow(key, prefix.size(),
                            std::string_view(it->value().data(), it->value().size()), &record)) {
        return Status::Internal("malformed session row in the store");
      }
      if (!query.jobs.empty() && !query.jobs.contains(record.job)) continue;
      record.user_id = query.user_id;
      out.push_back(std::move(record));
      if (out.size() >= static_cast<size_t>(query.limit)) break;
    }
    USP_RETURN_IF_ERROR(FromRocks(it->status(), "read sessions"));
    return out;
  }

 public:
  Result<std::vector<PartitionOffset>> ReadOffsets() const override {
    std::vector<PartitionOffset> out;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), meta_));
    const std::string tag(1, kOffsetTag);
    for (it->Seek(tag); it->Valid() && it->key().starts_with(tag); it->Next()) {
      std::string_view key(it->key().data(), it->key().size());
      std::string_view value(it->value().data(), it->value().size());
      if (key.size() < 9 || value.size() != 8) return Status::Internal("malformed offset entry");
      uint32_t len = DecodeU32(key.substr(1, 4));
      if (key.size() != 9 + len) return Status::Internal("malformed offset entry");
      PartitionOffset& offset = out.emplace_back();
      offset.topic = key.substr(5, len);
      offset.partition = static_cast<int32_t>(DecodeU32(key.substr(5 + len, 4)));
      offset.next_offset = DecodeI64(value);
    }
    USP_RETURN_IF_ERROR(FromRocks(it->status(), "read offsets"));
    std::sort(out.begin(), out.end(), [](const PartitionOffset& a, const PartitionOffset& b) {
      return std::tie(a.topic, a.partition) < std::tie(b.topic, b.partition);
    });
    return out;
  }

  std::map<std::string, int64_t> Freshness() const override {
    std::lock_guard<std::mutex> lock(freshness_mutex_);
    return std::map<std::string, int64_t>(freshness_.begin(), freshness_.end());
  }

  std::optional<int64_t> FreshnessOf(std::string_view signal) const override {
    std::lock_guard<std::mutex> lock(freshness_mutex_);
    auto it = freshness_.find(signal);
    if (it == freshness_.end()) return std::nullopt;
    return it->second;
  }

  Status Flush() override {
    if (read_only_) return Status::Ok();
    return FromRocks(db_->Flush(rocksdb::FlushOptions(), handles_), "flush");
  }

  Status Compact() override {
    if (read_only_) return Status::Ok();
    for (rocksdb::ColumnFamilyHandle* family : {rows_, segments_, sessions_}) {
      USP_RETURN_IF_ERROR(FromRocks(
          db_->CompactRange(rocksdb::CompactRangeOptions(), family, nullptr, nullptr), "compact"));
    }
    return Status::Ok();
  }

  Result<SignalStoreStats> Stats() const override {
    SignalStoreStats stats;
    db_->GetIntProperty(rows_, rocksdb::DB::Properties::kTotalSstFilesSize, &stats.sst_bytes);
    db_->GetIntProperty(rows_, rocksdb::DB::Properties::kEstimateNumKeys, &stats.estimated_rows);
    stats.compression = CompressionName(compression_);
    return stats;
  }

 private:
  Status InitPartitions(int32_t requested) {
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_, kPartitionsKey, &value);
    if (s.IsNotFound()) {
      if (requested <= 0) {
        return Status::InvalidArgument("a new store needs the partition count of the topics");
      }
      partitions_ = requested;
      return FromRocks(
          db_->Put(rocksdb::WriteOptions(), meta_, kPartitionsKey, EncodeI64(requested)),
          "write partition count");
    }
    USP_RETURN_IF_ERROR(FromRocks(s, "read partition count"));
    if (value.size() != 8) return Status::Internal("malformed partition count");
    int64_t recorded = DecodeI64(value);
    if (requested > 0 && requested != recorded) {
      return Status::InvalidArgument("the store was built for " + std::to_string(recorded) +
                                     " partitions, the topics have " + std::to_string(requested) +
                                     "; rebuild it in an empty data directory");
    }
    partitions_ = static_cast<int32_t>(recorded);
    return Status::Ok();
  }

  Status LoadFreshness() {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), meta_));
    const std::string tag(1, kFreshnessTag);
    std::lock_guard<std::mutex> lock(freshness_mutex_);
    for (it->Seek(tag); it->Valid() && it->key().starts_with(tag); it->Next()) {
      if (it->value().size() != 8) return Status::Internal("malformed freshness entry");
      freshness_[it->key().ToString().substr(1)] =
          DecodeI64(std::string_view(it->value().data(), 8));
    }
    return FromRocks(it->status(), "read freshness");
  }

  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyHandle* meta_ = nullptr;
  rocksdb::ColumnFamilyHandle* rows_ = nullptr;
  rocksdb::ColumnFamilyHandle* segments_ = nullptr;
  rocksdb::ColumnFamilyHandle* sessions_ = nullptr;
  rocksdb::CompressionType compression_ = rocksdb::kNoCompression;
  int32_t partitions_ = 0;
  bool read_only_ = false;
  std::filesystem::path secondary_dir_;  // the read-only instance's own log directory

  std::mutex write_mutex_;  // one Write() at a time (freshness read-modify-write)
  mutable std::mutex freshness_mutex_;
  std::map<std::string, int64_t, std::less<>> freshness_;  // GUARDED_BY(freshness_mutex_)
};

}  // namespace

Status SignalStore::VisitQuery(const SignalQuery& query,
                               const std::function<void(const SignalRowView&)>& visit) const {
  auto records = Query(query);
  if (!records.ok()) return records.status();
  for (const SignalRecord& record : *records) {
    visit(SignalRowView{record.signal, record.event_time, record.event_id, record.version,
                        record.attributes_json});
  }
  return Status::Ok();
}

std::optional<int64_t> SignalStore::FreshnessOf(std::string_view signal) const {
  std::map<std::string, int64_t> all = Freshness();
  auto it = all.find(std::string(signal));
  if (it == all.end()) return std::nullopt;
  return it->second;
}

Result<UserProfile> SignalStore::QueryProfile(const SignalQuery& signals,
                                              const SegmentQuery& segments,
                                              const SessionQuery& sessions) const {
  UserProfile profile;
  auto s = Query(signals);
  if (!s.ok()) return s.status();
  profile.signals = std::move(s).value();
  auto g = QuerySegments(segments);
  if (!g.ok()) return g.status();
  profile.segments = std::move(g).value();
  auto w = QuerySessions(sessions);
  if (!w.ok()) return w.status();
  profile.sessions = std::move(w).value();
  return profile;
}

Result<std::unique_ptr<SignalStore>> SignalStore::Open(const std::filesystem::path& dir,
                                                       const SignalStoreOptions& options) {
  auto store = std::make_unique<RocksDbSignalStore>();
  USP_RETURN_IF_ERROR(store->Init(dir, options, /*read_only=*/false));
  return std::unique_ptr<SignalStore>(std::move(store));
}

Result<std::unique_ptr<SignalStore>> SignalStore::OpenReadOnly(const std::filesystem::path& dir) {
  auto store = std::make_unique<RocksDbSignalStore>();
  USP_RETURN_IF_ERROR(store->Init(dir, SignalStoreOptions(), /*read_only=*/true));
  return std::unique_ptr<SignalStore>(std::move(store));
}

}  // namespace usp
