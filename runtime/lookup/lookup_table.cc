#include "runtime/lookup/lookup_table.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

namespace usp {

namespace {
constexpr int kMaxBatch = 10000;
constexpr int kRetryMs = 500;
}  // namespace

Result<std::unique_ptr<LookupTable>> LookupTable::Open(LookupTableOptions options) {
  if (options.topic.empty()) return Status::InvalidArgument("lookup table: topic required");
  if (options.db_path.empty()) return Status::InvalidArgument("lookup table: db_path required");
  // A cache of the topic: always rebuilt from the beginning.
  std::error_code ec;
  std::filesystem::remove_all(options.db_path, ec);
  std::filesystem::create_directories(options.db_path, ec);
  if (ec) return Status::IoError("lookup table " + options.db_path + ": " + ec.message());
  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, options.db_path, &raw);
  if (!s.ok()) return Status::IoError("lookup table " + options.db_path + ": " + s.ToString());
  std::unique_ptr<rocksdb::DB> db(raw);

  ConsumerOptions consumer_options;
  consumer_options.bootstrap = options.bootstrap;
  consumer_options.group_id = "usp-lookup";  // required by the client; never committed
  consumer_options.client_id = "usp-lookup-" + options.name;
  consumer_options.properties = options.properties;
  auto consumer = KafkaConsumer::Create(consumer_options);
  if (!consumer.ok()) return consumer.status();
  return std::unique_ptr<LookupTable>(
      new LookupTable(std::move(options), std::move(db), std::move(consumer).value()));
}

LookupTable::LookupTable(LookupTableOptions options, std::unique_ptr<rocksdb::DB> db,
                         std::unique_ptr<KafkaConsumer> consumer)
    : options_(std::move(options)), db_(std::move(db)), consumer_(std::move(consumer)) {}

LookupTable::~LookupTable() { Stop(); }

void LookupTable::Stop() {
  stop_.store(true, std::memory_order_release);
  if (thread_.joinable()) thread_.join();
}

Status LookupTable::Start() {
  if (thread_.joinable()) return Status::Ok();
  auto count = consumer_->PartitionCount(options_.topic, options_.metadata_timeout_ms);
  if (!count.ok()) return count.status();
  if (*count <= 0) return Status::Unavailable("lookup topic " + options_.topic + " has no partitions");
  std::vector<int64_t> ends;
  std::vector<int64_t> starts;
  std::vector<TopicPartitionOffset> assign;
  for (int32_t p = 0; p < *count; ++p) {
    auto marks = consumer_->QueryWatermarks(options_.topic, p, options_.metadata_timeout_ms);
    if (!marks.ok()) return marks.status();
    // Nothing left to read (empty, or every record gone): nothing to wait for.
    ends.push_back(marks->high > marks->low ? marks->high : 0);
    starts.push_back(std::max<int64_t>(marks->low, 0));
    assign.push_back({options_.topic, p, kOffsetBeginning});
  }
  USP_RETURN_IF_ERROR(consumer_->Assign(assign));
  end_at_start_ = std::move(ends);
  next_ = std::move(starts);
  int64_t total = 0;
  for (int64_t e : end_at_start_) total += e;
  spdlog::info("lookup {}: loading {} ({} partitions, up to {} records) into {}", options_.name,
               options_.topic, *count, total, options_.db_path);
  UpdateLoaded();
  thread_ = std::thread([this] { Loop(); });
  return Status::Ok();
}

void LookupTable::UpdateLoaded() {
  if (loaded()) return;
  for (size_t p = 0; p < end_at_start_.size(); ++p) {
    if (next_[p] < end_at_start_[p]) return;
  }
  loaded_.store(true, std::memory_order_release);
  spdlog::info("lookup {}: initial load of {} complete (~{} rows)", options_.name, options_.topic,
               rows());
  if (options_.on_progress) options_.on_progress(rows(), lag());
}

void LookupTable::Loop() {
  while (!stop_.load(std::memory_order_acquire)) {
    Status s = PollOnce();
    if (!s.ok()) {
      spdlog::warn("lookup {}: {} (retrying)", options_.name, s.ToString());
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (loader_status_.ok()) loader_status_ = s;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(kRetryMs));
    }
  }
}

Status LookupTable::PollOnce() {
  USP_RETURN_IF_ERROR(consumer_->Poll(kMaxBatch, options_.poll_timeout_ms, &batch_));
  if (!batch_.empty()) {
    rocksdb::WriteBatch batch;
    for (const ConsumedMessage& m : batch_) {
      if (m.topic != options_.topic || m.partition < 0 ||
          static_cast<size_t>(m.partition) >= next_.size()) {
        continue;
      }
      if (m.payload.empty()) {
        batch.Delete(rocksdb::Slice(m.key.data(), m.key.size()));
      } else if (nlohmann::json::accept(m.payload)) {
        batch.Put(rocksdb::Slice(m.key.data(), m.key.size()),
                  rocksdb::Slice(m.payload.data(), m.payload.size()));
      } else {
        invalid_.fetch_add(1, std::memory_order_relaxed);
        spdlog::warn("lookup {}: {}[{}]@{} skipped: the value is not JSON", options_.name, m.topic,
                     m.partition, m.offset);
      }
      next_[static_cast<size_t>(m.partition)] = m.offset + 1;
    }
    rocksdb::Status s = db_->Write(rocksdb::WriteOptions(), &batch);
    if (!s.ok()) return Status::IoError("lookup " + options_.name + ": " + s.ToString());
  }
  int64_t total = 0;
  for (size_t p = 0; p < next_.size() && total >= 0; ++p) {
    const int64_t lag = consumer_->Lag(options_.topic, static_cast<int32_t>(p), next_[p]);
    total = lag < 0 ? -1 : total + lag;
  }
  if (total >= 0 || lag_.load(std::memory_order_relaxed) < 0) {
    lag_.store(total, std::memory_order_relaxed);
  }
  UpdateLoaded();
  if (!batch_.empty() && options_.on_progress) options_.on_progress(rows(), lag());
  return Status::Ok();
}

bool LookupTable::Get(std::string_view key, std::string* value) const {
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), rocksdb::Slice(key.data(), key.size()), value);
  return s.ok();
}

bool LookupTable::WaitLoaded(int timeout_ms) const {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!loaded()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

int64_t LookupTable::rows() const {
  uint64_t n = 0;
  if (!db_->GetIntProperty("rocksdb.estimate-num-keys", &n)) return -1;
  return static_cast<int64_t>(n);
}

Status LookupTable::loader_status() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return loader_status_;
}

Result<std::unique_ptr<LookupTables>> OpenLookupTables(const UserSignal& signal,
                                                       const std::string& bootstrap,
                                                       const KafkaProperties& properties,
                                                       const std::string& dir,
                                                       prometheus::Registry* registry) {
  prometheus::Family<prometheus::Gauge>* rows_family = nullptr;
  prometheus::Family<prometheus::Gauge>* lag_family = nullptr;
  if (registry != nullptr && !signal.spec.lookups.empty()) {
    rows_family = &prometheus::BuildGauge()
                       .Name("usp_lookup_rows")
                       .Help("Rows in a lookup table (RocksDB estimate)")
                       .Register(*registry);
    lag_family = &prometheus::BuildGauge()
                      .Name("usp_lookup_lag")
                      .Help("Records of a lookup table's topic not applied yet (-1: unknown)")
                      .Register(*registry);
  }
  std::vector<std::unique_ptr<LookupTable>> tables;
  for (const LookupSpec& lookup : signal.spec.lookups) {
    LookupTableOptions options;
    options.name = lookup.name;
    options.topic = lookup.kafka_topic;
    options.bootstrap = bootstrap;
    options.properties = properties;
    options.db_path = (std::filesystem::path(dir) / lookup.name).string();
    if (rows_family != nullptr) {
      const std::map<std::string, std::string> labels = {
          {"kind", "UserSignal"}, {"job", signal.metadata.name}, {"lookup", lookup.name}};
      prometheus::Gauge* rows = &rows_family->Add(labels);
      prometheus::Gauge* lag = &lag_family->Add(labels);
      lag->Set(-1);
      options.on_progress = [rows, lag](int64_t n, int64_t behind) {
        rows->Set(static_cast<double>(n));
        lag->Set(static_cast<double>(behind));
      };
    }
    auto table = LookupTable::Open(std::move(options));
    if (!table.ok()) return table.status();
    tables.push_back(std::move(table).value());
  }
  return std::make_unique<LookupTables>(std::move(tables));
}

}  // namespace usp
