#include "runtime/batch/backfill.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>

#include "core/resource_loader.h"
#include "runtime/batch/batch_input.h"
#include "runtime/batch/batch_pipeline.h"
#include "runtime/batch/batch_writer.h"
#include "runtime/batch/checkpoint.h"
#include "runtime/batch/kafka_range.h"
#include "runtime/batch/progress.h"
#include "runtime/batch/status_context.h"
#include "runtime/common/shutdown.h"
#include "runtime/store/signal_store.h"

namespace usp {

namespace {

int64_t WallNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status CheckFlags(const BackfillOptions& o) {
  if (o.resources.empty()) return Status::InvalidArgument("--resources: required");
  if (o.job.empty()) return Status::InvalidArgument("--job: required");
  if (o.inputs.empty()) {
    if (o.brokers.empty()) {
      return Status::InvalidArgument(
          "no input: give --input FILE (repeatable) or --brokers with --from and --to");
    }
    if (!o.from_ms || !o.to_ms) {
      return Status::InvalidArgument("--from and --to: both required to read a range from Kafka");
    }
  }
  if (o.from_ms && o.to_ms && *o.from_ms >= *o.to_ms) {
    return Status::InvalidArgument("--to: must be after --from");
  }
  if (o.compare) {
    if (o.store_dir.empty()) {
      return Status::InvalidArgument("--compare: needs --store-dir (the store to compare with)");
    }
    if (o.to_topic) return Status::InvalidArgument("--to-topic: --compare writes nothing");
  } else if (!o.to_topic && o.store_dir.empty()) {
    return Status::InvalidArgument(
        "nothing to write: give --to-topic and/or --store-dir (or --compare --store-dir)");
  }
  if (o.to_topic && o.brokers.empty())
    return Status::InvalidArgument("--to-topic: needs --brokers");
  if (o.partitions < 0) return Status::InvalidArgument("--partitions: must be positive");
  if (o.chunk_rows <= 0) return Status::InvalidArgument("chunk size must be positive");
  return Status::Ok();
}

Result<std::unique_ptr<SignalStore>> OpenStore(const BackfillOptions& o) {
  if (o.compare) {
    auto store = SignalStore::OpenReadOnly(o.store_dir);
    if (!store.ok()) return WithContext(store.status(), "--store-dir " + o.store_dir);
    return store;
  }
  SignalStoreOptions so;
  so.partitions = o.partitions;
  auto store = SignalStore::Open(o.store_dir, so);
  if (store.ok()) return store;
  const std::string& m = store.status().message();
  std::string hint;
  if (m.find("lock") != std::string::npos || m.find("LOCK") != std::string::npos) {
    hint =
        " - the store is locked: is a query service (usp-runtime serve) running on it? "
        "Stop it first, or write with --to-topic and let it materialize the rows";
  } else if (m.find("partition") != std::string::npos && o.partitions == 0) {
    hint = " (give --partitions N)";
  }
  return WithContext(Status::IoError(m + hint), "--store-dir " + o.store_dir);
}

// Reads the --input files into `records` (in [from, to) when given).
Status ReadFiles(const BackfillOptions& o, BatchPipeline* pipeline,
                 const std::optional<Checkpoint>& cp, std::vector<TimedRecord>* records,
                 std::vector<CheckpointFile>* files, BackfillSummary* summary) {
  std::vector<std::unique_ptr<InputFileReader>> readers;
  int64_t total = 0;
  for (const std::string& flag : o.inputs) {
    InputFileSpec spec = ParseInputFlag(flag);
    if (!spec.topic.empty() && !pipeline->Reads(spec.topic)) {
      std::string topics;
      for (const auto& t : pipeline->source_topics()) topics += (topics.empty() ? "" : ", ") + t;
      return Status::InvalidArgument("--input " + flag + ": " + pipeline->job_kind() + " " + o.job +
                                     " does not read topic " + spec.topic +
                                     " (its sources: " + topics + ")");
    }
    auto reader = InputFileReader::Open(spec);
    if (!reader.ok()) return reader.status();
    total += (*reader)->total_bytes();
    files->push_back({spec.path, (*reader)->total_bytes(), 0});
    readers.push_back(std::move(reader).value());
  }
  if (cp && !cp->files.empty()) {
    for (size_t i = 0; i < files->size(); ++i) {
      const CheckpointFile* was = nullptr;
      for (const auto& f : cp->files) {
        if (f.path == (*files)[i].path) was = &f;
      }
      if (was == nullptr || was->size != (*files)[i].size) {
        return Status::InvalidArgument(
            "--input " + (*files)[i].path + ": " +
            (was == nullptr ? std::string("not an input of the checkpointed run")
                            : "changed since the checkpoint (" + std::to_string((*files)[i].size) +
                                  " bytes, was " + std::to_string(was->size) + ")") +
            "; delete --checkpoint " + o.checkpoint + " to start over");
      }
    }
  }
  Progress progress("reading", o.tty);
  int64_t done_before = 0;
  for (size_t i = 0; i < readers.size(); ++i) {
    InputFileReader& reader = *readers[i];
    BatchInputRecord record;
    int64_t last_time = 0;
    while (true) {
      auto more = reader.Next(&record);
      if (!more.ok()) return more.status();
      if (!*more) break;
      std::optional<int64_t> t = pipeline->TimeOf(record);
      const int64_t time = t ? *t : last_time;
      last_time = time;
      if ((o.from_ms && time < *o.from_ms) || (o.to_ms && time >= *o.to_ms)) continue;
      ++summary->events;
      records->push_back({time, std::move(record)});
      if (ShutdownRequested()) return Status::Ok();
      if ((summary->events & 1023) == 0) {
        progress.Update(summary->events, done_before + reader.bytes_read(), total);
      }
    }
    summary->invalid += reader.bad_lines();
    (*files)[i].lines = reader.line();
    done_before += reader.total_bytes();
  }
  progress.Done(summary->events);
  return Status::Ok();
}

}  // namespace

std::string BackfillSummary::Line() const {
  char secs[32];
  std::snprintf(secs, sizeof(secs), "%.1f", seconds);
  std::string line = std::to_string(events) + " events read, " + std::to_string(invalid) +
                     " invalid, " + std::to_string(rows) + " rows computed, ";
  if (parity) {
    line += "compared (nothing written)";
  } else {
    line += std::to_string(written) + " rows written, " + std::to_string(unchanged) +
            " skipped unchanged, version " + std::to_string(version);
  }
  line += ", " + std::string(secs) + " s";
  if (interrupted) line += " - INTERRUPTED: rerun with the same flags to continue";
  return line;
}

Result<BackfillSummary> RunBackfill(const BackfillOptions& o) {
  const auto started = std::chrono::steady_clock::now();
  USP_RETURN_IF_ERROR(CheckFlags(o));
  BackfillSummary summary;
  auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  };

  auto loaded = LoadResourcesFromPath(o.resources);
  if (!loaded.ok()) {
    return WithContext(loaded.status(), "--resources " + o.resources);
  }

  std::optional<Checkpoint> cp;
  if (!o.checkpoint.empty()) {
    auto read = ReadCheckpoint(o.checkpoint);
    if (!read.ok()) return read.status();
    cp = *read;
    if (cp && cp->job != o.job) {
      return Status::InvalidArgument("--checkpoint " + o.checkpoint + ": written for job \"" +
                                     cp->job + "\", not \"" + o.job + "\"");
    }
    if (cp && o.version && *o.version != cp->version) {
      return Status::InvalidArgument(
          "--version " + std::to_string(*o.version) + ": the checkpoint's run writes version " +
          std::to_string(cp->version) + " (drop --version or delete the checkpoint)");
    }
  }
  summary.version = cp ? cp->version : o.version ? *o.version : WallNowMs();

  // The chain first (its errors name the resource), then the store.
  BatchPipelineOptions pipeline_options;
  pipeline_options.partitions = o.partitions > 0 ? o.partitions : 8;
  auto pipeline = BatchPipeline::Create(*loaded, o.job, pipeline_options);
  if (!pipeline.ok()) return pipeline.status();
  std::unique_ptr<SignalStore> store;
  if (!o.store_dir.empty()) {
    auto opened = OpenStore(o);
    if (!opened.ok()) return opened.status();
    store = std::move(opened).value();
  }
  int32_t partitions = o.partitions > 0 ? o.partitions : store ? store->partitions() : 0;
  if (partitions > 0 && partitions != pipeline_options.partitions) {
    pipeline_options.partitions = partitions;
    pipeline = BatchPipeline::Create(*loaded, o.job, pipeline_options);
    if (!pipeline.ok()) return pipeline.status();
  }

  // Input.
  std::vector<TimedRecord> records;
  std::vector<CheckpointFile> files;
  std::vector<PartitionRange> ranges;
  KafkaRangeOptions kafka;
  kafka.brokers = o.brokers;
  kafka.properties = o.properties;
  if (!o.inputs.empty()) {
    USP_RETURN_IF_ERROR(ReadFiles(o, pipeline->get(), cp, &records, &files, &summary));
  } else {
    kafka.from_ms = *o.from_ms;
    kafka.to_ms = *o.to_ms;
    if (cp && !cp->ranges.empty()) {
      ranges = cp->ranges;
    } else {
      auto resolved = ResolveKafkaRange(kafka, (*pipeline)->source_topics());
      if (!resolved.ok()) return resolved.status();
      ranges = std::move(resolved).value();
    }
    if (partitions == 0) {
      for (const auto& r : ranges) partitions = std::max(partitions, r.partition + 1);
      pipeline_options.partitions = partitions > 0 ? partitions : 8;
      pipeline = BatchPipeline::Create(*loaded, o.job, pipeline_options);
      if (!pipeline.ok()) return pipeline.status();
    }
    Progress progress("reading " + o.brokers, o.tty);
    BatchPipeline* p = pipeline->get();
    USP_RETURN_IF_ERROR(ReadKafkaRange(
        kafka, ranges,
        [&](BatchInputRecord&& r) {
          std::optional<int64_t> t = p->TimeOf(r);
          ++summary.events;
          records.push_back({t ? *t : r.timestamp_ms, std::move(r)});
        },
        [&](int64_t done, int64_t total) { progress.Update(summary.events, done, total); },
        [] { return ShutdownRequested(); }));
    progress.Done(summary.events);
  }
  Checkpoint checkpoint;
  checkpoint.job = o.job;
  checkpoint.version = summary.version;
  checkpoint.files = files;
  checkpoint.ranges = ranges;
  auto save = [&]() -> Status {
    if (o.checkpoint.empty() || o.compare) return Status::Ok();
    return WriteCheckpoint(o.checkpoint, checkpoint);
  };
  if (ShutdownRequested()) {
    USP_RETURN_IF_ERROR(save());
    summary.interrupted = true;
    summary.seconds = seconds();
    return summary;
  }

  // Compute.
  BatchPipeline& pipe = **pipeline;
  SortByTime(&records);
  int64_t min_time = records.empty() ? 0 : records.front().time;
  int64_t max_time = records.empty() ? 0 : records.back().time;
  {
    Progress progress("computing " + pipe.job_kind() + " " + o.job, o.tty);
    for (size_t i = 0; i < records.size(); ++i) {
      USP_RETURN_IF_ERROR(pipe.Process(records[i].record, records[i].time));
      if ((i & 1023) == 0) {
        progress.Update(static_cast<int64_t>(i), static_cast<int64_t>(i),
                        static_cast<int64_t>(records.size()));
        if (ShutdownRequested()) {
          USP_RETURN_IF_ERROR(save());
          summary.interrupted = true;
          summary.seconds = seconds();
          return summary;
        }
      }
    }
    progress.Done(static_cast<int64_t>(records.size()));
  }
  records.clear();
  records.shrink_to_fit();
  // The end of the clock: --to, else the last record + allowedLateness.
  const int64_t end = o.to_ms ? *o.to_ms : max_time + pipe.allowed_lateness_ms();
  USP_RETURN_IF_ERROR(pipe.Finish(end));
  summary.invalid += pipe.stats().invalid;
  BatchRows rows = pipe.rows();
  rows.SetVersion(summary.version);
  summary.rows = static_cast<int64_t>(rows.size());
  spdlog::info("{} {}: {} events -> {} output records -> {} rows (clock ended at {}, {} timers)",
               pipe.job_kind(), o.job, pipe.stats().records, pipe.stats().outputs, rows.size(), end,
               pipe.stats().timers_fired);

  if (o.compare) {
    ParityRange range;
    range.start = o.from_ms ? *o.from_ms : min_time;
    range.end = o.to_ms ? *o.to_ms : end + 1;
    BatchRows online;
    USP_RETURN_IF_ERROR(LoadStoreRows(*store, pipe.row_kind(), o.job, range, &online));
    ParityReport report = CompareRows(o.job, pipe.row_kind(), range, rows, online);
    if (!o.report.empty()) {
      std::ofstream out(o.report, std::ios::trunc);
      out << report.ToJson().dump(2) << "\n";
      if (!out) return Status::IoError("--report " + o.report + ": cannot write");
    }
    summary.parity = std::move(report);
    summary.seconds = seconds();
    return summary;
  }

  // Write.
  RowList list = ToRowList(rows, pipe.row_kind());
  checkpoint.rows = static_cast<int64_t>(list.size());
  size_t position = 0;
  if (cp) {
    if (cp->rows_done > 0 && cp->rows != checkpoint.rows) {
      return Status::InvalidArgument(
          "--checkpoint " + o.checkpoint + ": this run computed " + std::to_string(list.size()) +
          " rows, the checkpointed one " + std::to_string(cp->rows) +
          " (the resources or input changed); delete the checkpoint to start over");
    }
    position = static_cast<size_t>(std::min<int64_t>(cp->rows_done, checkpoint.rows));
    checkpoint.written = cp->written;
    checkpoint.unchanged = cp->unchanged;
    if (position > 0)
      spdlog::info("resuming after {} of {} rows (checkpoint)", position, list.size());
  }
  checkpoint.rows_done = static_cast<int64_t>(position);
  std::unique_ptr<RowWriter> store_writer;
  std::unique_ptr<RowWriter> topic_writer;
  if (store) {
    auto w = StoreRowWriter::Create(store.get(), pipe.row_kind(), o.job);
    if (!w.ok()) return w.status();
    store_writer = std::move(w).value();
  }
  if (o.to_topic) {
    auto w = TopicRowWriter::Create(o.brokers, o.properties, pipe.output_topic());
    if (!w.ok()) return w.status();
    topic_writer = std::move(w).value();
  }
  Progress progress("writing", o.tty, "rows");
  int64_t handled = 0;
  while (position < list.size()) {
    if (ShutdownRequested() || (o.stop_after_rows >= 0 && handled >= o.stop_after_rows)) {
      summary.interrupted = true;
      break;
    }
    size_t chunk_end = std::min(list.size(), position + static_cast<size_t>(o.chunk_rows));
    if (o.stop_after_rows >= 0) {
      chunk_end = std::min(chunk_end, position + static_cast<size_t>(o.stop_after_rows - handled));
    }
    WriteCounts counts;
    if (store_writer) USP_RETURN_IF_ERROR(store_writer->Write(list, position, chunk_end, &counts));
    WriteCounts produced;
    if (topic_writer)
      USP_RETURN_IF_ERROR(topic_writer->Write(list, position, chunk_end, &produced));
    if (!store_writer) counts = produced;
    summary.written += counts.written;
    summary.unchanged += counts.unchanged;
    checkpoint.written += counts.written;
    checkpoint.unchanged += counts.unchanged;
    handled += static_cast<int64_t>(chunk_end - position);
    position = chunk_end;
    checkpoint.rows_done = static_cast<int64_t>(position);
    USP_RETURN_IF_ERROR(save());
    progress.Update(static_cast<int64_t>(position), static_cast<int64_t>(position),
                    static_cast<int64_t>(list.size()));
  }
  if (!summary.interrupted) {
    checkpoint.complete = true;
    USP_RETURN_IF_ERROR(save());
    progress.Done(static_cast<int64_t>(list.size()));
  }
  summary.seconds = seconds();
  return summary;
}

}  // namespace usp
