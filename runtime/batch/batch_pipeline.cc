#include "runtime/batch/batch_pipeline.h"

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>

#include "core/event_time.h"
#include "core/murmur2.h"
#include "core/signal_transform.h"
#include "runtime/jobs/job_factory.h"

namespace usp {

class BatchPipeline::SimClock : public Clock {
 public:
  int64_t now = std::numeric_limits<int64_t>::min();
  int64_t NowMs() override { return now == std::numeric_limits<int64_t>::min() ? 0 : now; }
};

struct BatchPipeline::Stage {
  std::string kind;
  std::string name;
  std::string output_topic;
  // Simple UserSignal.
  std::optional<UserSignal> signal;
  std::unique_ptr<SignalTransform> transform;
  // Stateful kinds.
  std::optional<StatefulJobPlan> plan;
  std::map<std::string, std::string> state;          // key -> processor state
  std::set<std::pair<int64_t, std::string>> timers;  // (at, key)
  // TimeOf for the topics this stage reads: the pointer to the event time.
  std::optional<JsonPointer> time_field;
  bool reads_signal_records = false;
};

namespace {

constexpr int kMaxDepth = 16;  // a chain deeper than this is a cycle

// The pointer a bare event of a left_join source holds its time at: the
// spec's pointer addresses the joined document (/left/...), strip the side.
JsonPointer SidePointer(const JsonPointer& p) {
  if (p.tokens().size() < 2 || (p.tokens()[0] != "left" && p.tokens()[0] != "right")) return p;
  std::string text;
  for (size_t i = 1; i < p.tokens().size(); ++i) {
    std::string token = p.tokens()[i];
    std::string escaped;
    for (char c : token) {
      if (c == '~') {
        escaped += "~0";
      } else if (c == '/') {
        escaped += "~1";
      } else {
        escaped += c;
      }
    }
    text += "/" + escaped;
  }
  auto parsed = JsonPointer::Parse(text);
  return parsed.ok() ? *parsed : p;
}

}  // namespace

BatchPipeline::BatchPipeline() : clock_(std::make_unique<SimClock>()) {}
BatchPipeline::~BatchPipeline() = default;

int64_t BatchPipeline::clock_ms() const { return clock_->NowMs(); }

Result<std::unique_ptr<BatchPipeline>> BatchPipeline::Create(
    const std::vector<LoadedResource>& resources, const std::string& job,
    const BatchPipelineOptions& options) {
  if (options.partitions <= 0) return Status::InvalidArgument("--partitions: must be positive");
  const LoadedResource* target = nullptr;
  for (const auto& r : resources) {
    if (r.name == job) {
      if (target != nullptr) {
        return Status::InvalidArgument("--job: \"" + job + "\" names more than one resource (" +
                                       target->source + ", " + r.source + ")");
      }
      target = &r;
    }
  }
  if (target == nullptr) {
    std::string names;
    for (const auto& r : resources) names += (names.empty() ? "" : ", ") + r.kind + "/" + r.name;
    return Status::InvalidArgument("--job: no resource named \"" + job + "\" (loaded: " + names +
                                   ")");
  }
  std::unique_ptr<BatchPipeline> p(new BatchPipeline());
  p->options_ = options;
  std::set<std::string> visiting;
  USP_RETURN_IF_ERROR(p->AddChain(resources, *target, &visiting));
  const Stage& last = *p->stages_.back();
  p->job_kind_ = last.kind;
  p->job_name_ = last.name;
  p->output_topic_ = last.output_topic;
  p->row_kind_ = last.kind == "UserSegment"  ? RowKind::kSegment
                 : last.kind == "SessionJob" ? RowKind::kSession
                                             : RowKind::kSignal;
  if (target->session_job) p->allowed_lateness_ms_ = target->session_job->spec.allowed_lateness_ms;
  std::set<std::string> produced;
  for (const auto& s : p->stages_) produced.insert(s->output_topic);
  for (const auto& [topic, routes] : p->routes_) {
    if (!produced.contains(topic)) p->source_topics_.push_back(topic);
  }
  return p;
}

Status BatchPipeline::AddChain(const std::vector<LoadedResource>& resources,
                               const LoadedResource& r, std::set<std::string>* visiting) {
  if (!r.valid()) {
    return Status::InvalidArgument(r.source + ": " + r.kind + " \"" + r.name +
                                   "\" is invalid: " + r.errors.front().ToString());
  }
  for (const auto& s : stages_) {
    if (s->kind == r.kind && s->name == r.name) return Status::Ok();  // already in the chain
  }
  if (!visiting->insert(r.kind + "/" + r.name).second) {
    return Status::InvalidArgument(r.source + ": " + r.kind + " \"" + r.name +
                                   "\" depends on itself");
  }
  // Upstream first: the UserSignals writing the topics this resource reads.
  std::map<std::string, std::string> signal_topics;  // like `uspctl local` --signal-topic
  std::map<std::string, const LoadedResource*> writer;
  for (const auto& other : resources) {
    if (!other.user_signal) continue;
    signal_topics[other.name] = other.user_signal->spec.output_topic;
    writer[other.user_signal->spec.output_topic] = &other;
  }
  auto stage = std::make_unique<Stage>();
  stage->kind = r.kind;
  stage->name = r.name;
  std::vector<std::pair<std::string, std::string>> reads;  // topic, rename
  const bool simple = r.user_signal && r.user_signal->spec.type == SignalType::kSimple;
  if (simple) {
    const UserSignal& s = *r.user_signal;
    auto transform = SignalTransform::Create(s);
    if (!transform.ok()) return transform.status();
    stage->signal = s;
    stage->transform = std::move(transform).value();
    stage->output_topic = s.spec.output_topic;
    stage->time_field = s.spec.event_time_field;
    for (const auto& t : s.SourceTopics()) reads.push_back({t, ""});
  } else {
    // Signals a segment or session job names must exist (as in local mode).
    std::vector<std::string> named;
    if (r.user_segment) named = r.user_segment->TriggerSignals();
    if (r.session_job) named = r.session_job->spec.signals;
    for (size_t i = 0; i < named.size(); ++i) {
      if (!signal_topics.contains(named[i])) {
        return Status::InvalidArgument(
            r.source + ": " + (r.user_segment ? "spec.enter.signals" : "spec.signals") + "[" +
            std::to_string(i) + "]: no UserSignal \"" + named[i] + "\" in --resources");
      }
    }
    StatefulJobOptions job_options;
    job_options.signal_topics = signal_topics;
    job_options.clock = clock_.get();
    job_options.source_partitions = options_.partitions;
    job_options.session = options_.session;
    auto plan = MakeStatefulJob(r, job_options);
    if (!plan.ok()) return plan.status();
    stage->output_topic = plan->job.output_topic;
    for (const auto& t : plan->job.source_topics) reads.push_back({t, ""});
    for (const auto& step : plan->repartition)
      reads.push_back({step.source_topic, step.target_topic});
    stage->plan = std::move(plan).value();
    if (r.user_signal) {
      stage->time_field = SidePointer(r.user_signal->spec.event_time_field);
    } else {
      stage->reads_signal_records = true;
    }
  }
  for (const auto& [topic, rename] : reads) {
    auto w = writer.find(topic);
    if (w != writer.end() && !(w->second->kind == r.kind && w->second->name == r.name)) {
      USP_RETURN_IF_ERROR(AddChain(resources, *w->second, visiting));
    }
  }
  const size_t index = stages_.size();
  for (const auto& [topic, rename] : reads) routes_[topic].push_back({index, rename});
  stages_.push_back(std::move(stage));
  visiting->erase(r.kind + "/" + r.name);
  return Status::Ok();
}

bool BatchPipeline::Reads(const std::string& topic) const { return routes_.contains(topic); }

std::optional<int64_t> BatchPipeline::TimeOf(const BatchInputRecord& record) {
  if (record.timestamp_ms >= 0) return record.timestamp_ms;
  auto it = routes_.find(record.topic);
  if (it == routes_.end()) return std::nullopt;
  const Stage& stage = *stages_[it->second.front().stage];
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(record.payload).get(doc) != simdjson::SUCCESS) return std::nullopt;
  std::optional<simdjson::dom::element> value;
  if (stage.reads_signal_records) {
    simdjson::dom::element v;
    if (doc["event_time"].get(v) == simdjson::SUCCESS) value = v;
  } else if (stage.time_field) {
    value = stage.time_field->Resolve(doc);
  }
  if (!value) return std::nullopt;
  auto t = ParseEventTime(*value);
  if (!t.ok()) return std::nullopt;
  return *t;
}

Status BatchPipeline::Process(const BatchInputRecord& record, int64_t time) {
  USP_RETURN_IF_ERROR(AdvanceTo(time));
  ++stats_.records;
  if (!routes_.contains(record.topic)) {
    ++stats_.ignored;
    return Status::Ok();
  }
  return Emit(record.topic, record.partition, record.offset, record.timestamp_ms, record.payload,
              0);
}

Status BatchPipeline::Finish(int64_t end_ms) { return AdvanceTo(end_ms); }

Status BatchPipeline::AdvanceTo(int64_t time) {
  while (true) {
    Stage* next = nullptr;
    for (auto& s : stages_) {
      if (s->timers.empty()) continue;
      if (next == nullptr || s->timers.begin()->first < next->timers.begin()->first) next = s.get();
    }
    if (next == nullptr || next->timers.begin()->first > time) break;
    auto [at, key] = *next->timers.begin();
    next->timers.erase(next->timers.begin());
    clock_->now = std::max(clock_->now, at);
    USP_RETURN_IF_ERROR(FireTimer(*next, at, key));
  }
  clock_->now = std::max(clock_->now, time);
  return Status::Ok();
}

Status BatchPipeline::FireTimer(Stage& stage, int64_t at, const std::string& key) {
  std::optional<std::string> state;
  auto it = stage.state.find(key);
  if (it != stage.state.end()) state = it->second;
  ProcessorEffects effects;
  USP_RETURN_IF_ERROR(stage.plan->processor->OnTimer(key, at, state, &effects));
  ++stats_.timers_fired;
  return ApplyEffects(stage, key, &effects, 0);
}

Status BatchPipeline::ApplyEffects(Stage& stage, const std::string& key, ProcessorEffects* effects,
                                   int depth) {
  if (effects->state_changed) {
    if (effects->state) {
      stage.state[key] = *effects->state;
    } else {
      stage.state.erase(key);
    }
  }
  for (int64_t at : effects->timers_to_cancel) stage.timers.erase({at, key});
  for (int64_t at : effects->timers_to_set) stage.timers.insert({at, key});
  for (const ProcessorOutput& o : effects->outputs) {
    if (!o.topic.empty()) {  // a dead letter: online writes it to its topic
      ++stats_.invalid;
      ++stats_.dead_letters;
      continue;
    }
    const int32_t partition = PartitionForKey(o.key, options_.partitions);
    USP_RETURN_IF_ERROR(Emit(stage.output_topic, partition, next_offset_[stage.output_topic]++,
                             o.timestamp_ms, o.value, depth + 1));
  }
  return Status::Ok();
}

Status BatchPipeline::Emit(const std::string& topic, int32_t partition, int64_t offset,
                           int64_t timestamp, const std::string& payload, int depth) {
  if (depth > kMaxDepth) return Status::InvalidArgument("the chain of " + topic + " is a cycle");
  if (topic == output_topic_ && depth > 0) {
    ++stats_.outputs;
    Status s = rows_.Add(row_kind_, payload);
    if (!s.ok()) return Status::Internal(topic + ": the job emitted a bad record: " + s.message());
  }
  auto it = routes_.find(topic);
  if (it == routes_.end()) return Status::Ok();
  for (const Route& route : it->second) {
    Stage& stage = *stages_[route.stage];
    const std::string& as = route.rename.empty() ? topic : route.rename;
    USP_RETURN_IF_ERROR(Feed(stage, as, partition, offset, timestamp, payload, depth));
  }
  return Status::Ok();
}

Status BatchPipeline::Feed(Stage& stage, const std::string& topic, int32_t partition,
                           int64_t offset, int64_t timestamp, const std::string& payload,
                           int depth) {
  if (stage.transform) {
    SignalRecord record;
    TransformError error;
    const SourceEvent event{topic, partition, offset, payload};
    switch (stage.transform->Apply(event, clock_->NowMs(), &record, &error)) {
      case TransformOutcome::kFiltered:
        ++stats_.filtered;
        return Status::Ok();
      case TransformOutcome::kFailed:
        ++stats_.invalid;
        if (stage.signal->spec.on_error == OnError::kDeadLetter) ++stats_.dead_letters;
        if (stats_.invalid <= 5) {
          spdlog::warn("{} {}: {}[{}]@{}: {} ({})", stage.kind, stage.name, topic, partition,
                       offset, error.message, error.reason);
        }
        return Status::Ok();
      case TransformOutcome::kEmitted:
        break;
    }
    // The signal worker keys the record by user and stamps it with the
    // event time.
    const std::string out = SerializeSignalRecord(record);
    const int32_t out_partition = PartitionForKey(record.user_id, options_.partitions);
    return Emit(stage.output_topic, out_partition, next_offset_[stage.output_topic]++,
                record.event_time, out, depth + 1);
  }
  KeyedProcessor& processor = *stage.plan->processor;
  const SourceRecordMeta meta{topic, partition, offset, timestamp};
  auto key = processor.KeyOfRecord(meta, payload);
  if (!key.ok()) {
    ++stats_.invalid;
    if (stats_.invalid <= 5) {
      spdlog::warn("{} {}: {}[{}]@{} skipped: {}", stage.kind, stage.name, topic, partition, offset,
                   key.status().message());
    }
    return Status::Ok();
  }
  std::optional<std::string> state;
  auto it = stage.state.find(*key);
  if (it != stage.state.end()) state = it->second;
  ProcessorEffects effects;
  Status s = processor.ProcessRecord(meta, *key, payload, state, &effects);
  if (!s.ok()) {
    if (s.code() == Status::Code::kInternal) return s;
    ++stats_.invalid;  // onError: fail stops a live worker; a batch counts it
    if (stats_.invalid <= 5) spdlog::warn("{} {}: {}", stage.kind, stage.name, s.ToString());
    return Status::Ok();
  }
  return ApplyEffects(stage, *key, &effects, depth);
}

void SortByTime(std::vector<TimedRecord>* records) {
  std::stable_sort(records->begin(), records->end(),
                   [](const TimedRecord& a, const TimedRecord& b) { return a.time < b.time; });
}

}  // namespace usp
