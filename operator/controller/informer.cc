#include "operator/controller/informer.h"

#include <spdlog/spdlog.h>

namespace usp::op {

using nlohmann::json;

Informer::Informer(kube::KubeClient* client, kube::ResourceDescriptor resource, InformerOptions options)
    : client_(client), resource_(std::move(resource)), options_(std::move(options)) {}

Informer::~Informer() { Stop(); }

void Informer::AddHandler(Handler handler) { handlers_.push_back(std::move(handler)); }

void Informer::Start() { thread_ = std::thread([this] { Loop(); }); }

void Informer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
  }
  cv_.notify_all();
  cancel_.Cancel();
  if (thread_.joinable()) thread_.join();
}

std::optional<json> Informer::Get(const kube::ObjectKey& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = cache_.find(key);
  if (it == cache_.end()) return std::nullopt;
  return it->second;
}

std::vector<json> Informer::List() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<json> out;
  out.reserve(cache_.size());
  for (const auto& [key, obj] : cache_) out.push_back(obj);
  return out;
}

std::string Informer::LastResourceVersion() const {
  std::lock_guard<std::mutex> lock(mu_);
  return resource_version_;
}

bool Informer::SleepFor(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  return !cv_.wait_for(lock, d, [this] { return stopped_; });
}

void Informer::Deliver(const std::string& type, const json& obj) {
  for (const auto& h : handlers_) h(type, obj);
}

bool Informer::Relist() {
  ++lists_;
  auto list = client_->List(resource_, options_.ns, {options_.label_selector, ""});
  if (!list.ok()) {
    spdlog::warn("list {}: {}", resource_.plural, list.error().ToString());
    return false;
  }
  std::map<kube::ObjectKey, json> fresh;
  for (const auto& item : list->value("items", json::array())) fresh[kube::KeyOf(item)] = item;
  std::vector<std::pair<std::string, json>> changes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, obj] : cache_) {
      if (!fresh.count(key)) changes.emplace_back("DELETED", obj);
    }
    for (const auto& [key, obj] : fresh) {
      auto it = cache_.find(key);
      if (it == cache_.end()) {
        changes.emplace_back("ADDED", obj);
      } else if (kube::ResourceVersion(it->second) != kube::ResourceVersion(obj)) {
        changes.emplace_back("MODIFIED", obj);
      }
    }
    cache_ = std::move(fresh);
    resource_version_ = (*list)["metadata"].value("resourceVersion", "");
  }
  synced_ = true;
  for (const auto& [type, obj] : changes) Deliver(type, obj);
  return true;
}

bool Informer::WatchOnce(bool* progressed) {
  ++watches_;
  kube::WatchOptions wo;
  wo.resource_version = LastResourceVersion();
  wo.label_selector = options_.label_selector;
  wo.allow_bookmarks = true;
  wo.timeout_seconds = options_.watch_timeout_seconds;
  auto result = client_->Watch(
      resource_, options_.ns, wo,
      [&](const kube::WatchEvent& ev) {
        std::string rv = kube::ResourceVersion(ev.object);
        if (ev.type == "BOOKMARK") {
          std::lock_guard<std::mutex> lock(mu_);
          if (!rv.empty()) resource_version_ = rv;
          *progressed = true;
          return true;
        }
        {
          std::lock_guard<std::mutex> lock(mu_);
          if (ev.type == "DELETED") {
            cache_.erase(kube::KeyOf(ev.object));
          } else {
            cache_[kube::KeyOf(ev.object)] = ev.object;
          }
          if (!rv.empty()) resource_version_ = rv;
        }
        *progressed = true;
        Deliver(ev.type, ev.object);
        return true;
      },
      &cancel_);
  if (result.ok()) return false;
  if (result.error().IsGone()) {
    spdlog::info("watch {}: {}; relisting", resource_.plural, result.error().ToString());
    return true;
  }
  spdlog::warn("watch {}: {}", resource_.plural, result.error().ToString());
  *progressed = false;
  return false;
}

void Informer::Loop() {
  auto backoff = options_.initial_backoff;
  auto grow = [&] { backoff = std::min(backoff * 2, options_.max_backoff); };
  bool need_list = true;
  while (!cancel_.cancelled()) {
    if (need_list) {
      if (!Relist()) {
        if (!SleepFor(backoff)) return;
        grow();
        continue;
      }
      need_list = false;
      backoff = options_.initial_backoff;
    }
    bool progressed = false;
    need_list = WatchOnce(&progressed);
    if (cancel_.cancelled()) return;
    if (need_list) continue;
    // A watch that delivered something was healthy: reopen at once. One that
    // ended without progress (refused, reset, closed at once) backs off.
    if (progressed) {
      backoff = options_.initial_backoff;
      continue;
    }
    if (!SleepFor(backoff)) return;
    grow();
  }
}

}  // namespace usp::op
