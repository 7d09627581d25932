#include "runtime/batch/parity_report.h"

#include <sstream>

namespace usp {

nlohmann::json RowJson(const SignalRecord& r) {
  return nlohmann::json::parse(SerializeSignalRecord(r));
}
nlohmann::json RowJson(const SegmentRecord& r) {
  return nlohmann::json::parse(SerializeSegmentRecord(r));
}
nlohmann::json RowJson(const SessionRecord& r) {
  return nlohmann::json::parse(SerializeSessionRecord(r));
}

namespace {

nlohmann::json IdentityJson(const SignalIdentity& id) {
  return {{"signal", std::get<0>(id)},
          {"user_id", std::get<1>(id)},
          {"event_time", std::get<2>(id)},
          {"event_id", std::get<3>(id)}};
}
nlohmann::json IdentityJson(const SegmentIdentity& id) {
  return {{"segment", std::get<0>(id)}, {"user_id", std::get<1>(id)}, {"start", std::get<2>(id)}};
}
nlohmann::json IdentityJson(const SessionIdentity& id) {
  return {{"job", std::get<0>(id)},
          {"user_id", std::get<1>(id)},
          {"window_start", std::get<2>(id)},
          {"window_end", std::get<3>(id)}};
}

int64_t TimeOfRow(const SignalRecord& r) { return r.event_time; }
int64_t TimeOfRow(const SegmentRecord& r) { return r.start; }
int64_t TimeOfRow(const SessionRecord& r) { return r.window_end; }

template <typename Map>
void Restrict(const ParityRange& range, Map* rows) {
  std::erase_if(*rows, [&](const auto& entry) {
    const int64_t t = TimeOfRow(entry.second);
    return t < range.start || t >= range.end;
  });
}

template <typename Map>
void Compare(const Map& batch, const Map& online, ParityReport* report) {
  for (const auto& [id, row] : batch) {
    auto it = online.find(id);
    if (it == online.end()) {
      report->missing.push_back({{"identity", IdentityJson(id)}, {"batch", RowJson(row)}});
      continue;
    }
    std::vector<std::string> fields = DiffFields(row, it->second);
    if (fields.empty()) {
      ++report->matching;
    } else {
      report->differing.push_back({{"identity", IdentityJson(id)},
                                   {"fields", fields},
                                   {"batch", RowJson(row)},
                                   {"online", RowJson(it->second)}});
    }
  }
  for (const auto& [id, row] : online) {
    if (!batch.contains(id)) {
      report->extra.push_back({{"identity", IdentityJson(id)}, {"online", RowJson(row)}});
    }
  }
}

// Pairs missing and extra windows of one job and user that overlap.
void PairWindowBoundaries(ParityReport* report) {
  std::vector<bool> extra_used(report->extra.size(), false);
  std::vector<nlohmann::json> missing;
  for (auto& m : report->missing) {
    const auto& mid = m["identity"];
    bool paired = false;
    for (size_t i = 0; i < report->extra.size() && !paired; ++i) {
      if (extra_used[i]) continue;
      const auto& eid = report->extra[i]["identity"];
      if (eid["job"] != mid["job"] || eid["user_id"] != mid["user_id"]) continue;
      const int64_t ms = mid["window_start"], me = mid["window_end"];
      const int64_t es = eid["window_start"], ee = eid["window_end"];
      if (ms < ee && es < me) {
        extra_used[i] = true;
        paired = true;
        report->window_boundary.push_back({{"job", mid["job"]},
                                           {"user_id", mid["user_id"]},
                                           {"batch_window", {ms, me}},
                                           {"online_window", {es, ee}},
                                           {"batch", m["batch"]},
                                           {"online", report->extra[i]["online"]}});
      }
    }
    if (!paired) missing.push_back(std::move(m));
  }
  std::vector<nlohmann::json> extra;
  for (size_t i = 0; i < report->extra.size(); ++i) {
    if (!extra_used[i]) extra.push_back(std::move(report->extra[i]));
  }
  report->missing = std::move(missing);
  report->extra = std::move(extra);
}

nlohmann::json Head(const std::vector<nlohmann::json>& list, size_t limit) {
  nlohmann::json out = nlohmann::json::array();
  for (size_t i = 0; i < list.size() && i < limit; ++i) out.push_back(list[i]);
  return out;
}

}  // namespace

void RestrictToRange(const ParityRange& range, BatchRows* rows) {
  Restrict(range, &rows->signals);
  Restrict(range, &rows->segments);
  Restrict(range, &rows->sessions);
}

ParityReport CompareRows(const std::string& job, RowKind kind, const ParityRange& range,
                         const BatchRows& batch, const BatchRows& online) {
  ParityReport report;
  report.job = job;
  report.kind = kind;
  report.range = range;
  BatchRows b = batch;
  BatchRows o = online;
  RestrictToRange(range, &b);
  RestrictToRange(range, &o);
  switch (kind) {
    case RowKind::kSignal:
      Compare(b.signals, o.signals, &report);
      break;
    case RowKind::kSegment:
      Compare(b.segments, o.segments, &report);
      break;
    case RowKind::kSession:
      Compare(b.sessions, o.sessions, &report);
      PairWindowBoundaries(&report);
      break;
  }
  return report;
}

nlohmann::json ParityReport::ToJson(size_t list_limit) const {
  nlohmann::json range_json = nlohmann::json::object();
  if (range.start != std::numeric_limits<int64_t>::min()) range_json["from"] = range.start;
  if (range.end != std::numeric_limits<int64_t>::max()) range_json["to"] = range.end;
  return {{"job", job},
          {"kind", ToString(kind)},
          {"range", range_json},
          {"identical", identical()},
          {"counts",
           {{"matching", matching},
            {"missing", missing.size()},
            {"extra", extra.size()},
            {"differing", differing.size()},
            {"window_boundary", window_boundary.size()}}},
          {"missing", Head(missing, list_limit)},
          {"extra", Head(extra, list_limit)},
          {"differing", Head(differing, list_limit)},
          {"window_boundary", Head(window_boundary, list_limit)}};
}

std::string ParityReport::Summary(size_t list_limit) const {
  std::ostringstream out;
  out << "parity " << ToString(kind) << " " << job << ": " << matching << " matching, "
      << missing.size() << " missing (batch has, online lacks), " << extra.size()
      << " extra (online has, batch lacks), " << differing.size() << " differing";
  if (kind == RowKind::kSession) out << ", " << window_boundary.size() << " window boundary";
  out << (identical() ? " - identical\n" : "\n");
  auto list = [&](const char* name, const std::vector<nlohmann::json>& rows) {
    for (size_t i = 0; i < rows.size() && i < list_limit; ++i) {
      const nlohmann::json& r = rows[i];
      out << "  " << name << " ";
      if (r.contains("identity")) out << r["identity"].dump();
      if (r.contains("fields")) out << " fields " << r["fields"].dump();
      if (r.contains("batch_window")) {
        out << "{\"job\":" << r["job"].dump() << ",\"user_id\":" << r["user_id"].dump()
            << "} batch " << r["batch_window"].dump() << " online " << r["online_window"].dump();
      }
      out << "\n";
    }
    if (rows.size() > list_limit)
      out << "  ... " << rows.size() - list_limit << " more " << name << "\n";
  };
  list("missing", missing);
  list("extra", extra);
  list("differing", differing);
  list("window_boundary", window_boundary);
  return out.str();
}

}  // namespace usp
