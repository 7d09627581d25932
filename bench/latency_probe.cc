// latency: R6's probe. Produces search events at a steady rate (background
// load over many users) and, every --probe-every events, a probe event of a
// user of its own ("probe-<run>-<k>"), then times how long until that probe
// is seen:
//   --mode usp   seen = the query API answers GET /v1/users/<probe>/signals
//                with the probe's signal (the worker turned it into a signal
//                record, the query service materialized it)
//   --mode raw   seen = a plain librdkafka consumer of the same topic
//                received it (R6's reference: produce -> consume)
// Both modes produce with the worker's producer settings (ProducerProperties)
// and the raw consumer fetches with USP's consumer settings
// (ConsumerProperties + fetch.wait.max.ms=50, as runtime/kafka sets it;
// --fetch-wait-ms changes it, for the raw side only).
// Times are CLOCK_MONOTONIC, taken just before rd_kafka_produce and just
// after the answer that shows the probe.
//
// Before the first timed probe a warm-up probe must be seen (up to
// --ready-timeout-s): the pipeline is up. Prints one JSON object.

// clang's -Wpedantic rejects librdkafka's RD_KAFKA_V_* argument type checks
// (GNU statement expressions); g++ builds keep them.
#if defined(__clang__) && !defined(LIBRDKAFKA_TYPECHECKS)
#define LIBRDKAFKA_TYPECHECKS 0
#endif

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_events.h"
#include "bench/kafka_tools.h"

namespace usp::bench {
namespace {

int64_t MonoUs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

// A blocking HTTP/1.1 keep-alive client for one host:port (GET only,
// Content-Length bodies: what the query service sends).
class HttpClient {
 public:
  HttpClient(std::string host, int port) : host_(std::move(host)), port_(port) {}
  ~HttpClient() { Close(); }

  // Returns the status code (body in *body), or -1 on a connection error.
  int Get(const std::string& target, std::string* body) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (fd_ < 0 && !Connect()) return -1;
      std::string request = "GET " + target + " HTTP/1.1\r\nHost: " + host_ + "\r\n\r\n";
      if (!SendAll(request)) {
        Close();
        continue;
      }
      int status = ReadResponse(body);
      if (status > 0) return status;
      Close();
    }
    return -1;
  }

 private:
  bool Connect() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) return false;
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    if (::inet_pton(AF_INET, host_.c_str(), &addr.sin_addr) != 1 ||
        ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      Close();
      return false;
    }
    buffer_.clear();
    return true;
  }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool SendAll(const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }
  bool ReadMore() {
    char chunk[16384];
    ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }
  int ReadResponse(std::string* body) {
    size_t header_end;
    while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!ReadMore()) return -1;
    }
    const std::string head = buffer_.substr(0, header_end);
    int status = 0;
    if (std::sscanf(head.c_str(), "HTTP/1.%*d %d", &status) != 1) return -1;
    std::string lower = head;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    size_t cl = lower.find("content-length:");
    if (cl == std::string::npos) return -1;
    size_t length = std::strtoull(head.c_str() + cl + 15, nullptr, 10);
    while (buffer_.size() < header_end + 4 + length) {
      if (!ReadMore()) return -1;
    }
    body->assign(buffer_, header_end + 4, length);
    buffer_.erase(0, header_end + 4 + length);
    return status;
  }

  std::string host_;
  int port_;
  int fd_ = -1;
  std::string buffer_;
};

struct Probe {
  std::atomic<int64_t> sent_us{0};     // monotonic, 0 = not sent yet
  std::atomic<int64_t> sent_wall_ms{0};
  std::atomic<int64_t> seen_us{0};     // 0 = not seen (yet)
  std::atomic<int64_t> version_ms{0};  // usp: the record's version (worker's processing time)
};

struct Run {
  std::string prefix;           // "probe-<run>-"
  std::vector<Probe> probes;    // index 0 = the warm-up probe
  std::atomic<bool> stop{false};
  explicit Run(size_t n) : probes(n) {}
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size()) + 0.999999);
  rank = std::clamp<size_t>(rank, 1, v.size());
  return v[rank - 1];
}

std::string Summary(const std::vector<double>& v) {
  char out[256];
  std::snprintf(out, sizeof(out),
                "{\"n\":%zu,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}",
                v.size(), Percentile(v, 50), Percentile(v, 90), Percentile(v, 99),
                v.empty() ? 0.0 : *std::max_element(v.begin(), v.end()));
  return out;
}

int64_t ProbeIndex(const Run& run, const char* key, size_t len) {
  if (len <= run.prefix.size() || std::memcmp(key, run.prefix.data(), run.prefix.size()) != 0) {
    return -1;
  }
  std::string rest(key + run.prefix.size(), len - run.prefix.size());
  if (rest == "warm") return 0;
  return std::strtoll(rest.c_str(), nullptr, 10);
}

// raw: consume every partition of the topic from the beginning; note when
// each probe arrives.
void RawConsumer(Run* run, const std::string& bootstrap, const std::string& topic,
                 const std::string& fetch_wait_ms) {
  Properties props = ConsumerProperties(bootstrap, "r6-raw-" + run->prefix);
  props.emplace_back("fetch.wait.max.ms", fetch_wait_ms);  // as runtime/kafka's KafkaConsumer
  rd_kafka_t* rk = NewClient(RD_KAFKA_CONSUMER, props);
  rd_kafka_poll_set_consumer(rk);
  auto partitions = PartitionCount(rk, topic);
  if (!partitions.ok()) {
    std::fprintf(stderr, "latency: %s\n", partitions.status().message().c_str());
    std::exit(1);
  }
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(*partitions);
  for (int32_t p = 0; p < *partitions; ++p) {
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  while (!run->stop.load()) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 50);
    if (m == nullptr) continue;
    const int64_t now = MonoUs();
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->key != nullptr) {
      int64_t k = ProbeIndex(*run, static_cast<const char*>(m->key), m->key_len);
      if (k >= 0 && k < static_cast<int64_t>(run->probes.size())) {
        int64_t expected = 0;
        run->probes[k].seen_us.compare_exchange_strong(expected, now);
      }
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
}

// usp: poller `id` of `count` owns the probes k with k % count == id and asks
// the query API for each sent, unseen one every `interval_us`.
void UspPoller(Run* run, int id, int count, const std::string& host, int port,
               const std::string& signal, int64_t interval_us, std::atomic<int64_t>* errors) {
  HttpClient client(host, port);
  std::string body;
  size_t next = 0;  // lowest probe index of ours not yet seen
  while (!run->stop.load()) {
    bool any = false;
    for (size_t k = next; k < run->probes.size(); ++k) {
      if (static_cast<int>(k % static_cast<size_t>(count)) != id) continue;
      Probe& p = run->probes[k];
      if (p.sent_us.load() == 0) break;
      if (p.seen_us.load() != 0) {
        if (k == next) next = k + 1;
        continue;
      }
      any = true;
      const std::string user = run->prefix + (k == 0 ? std::string("warm") : std::to_string(k));
      int status = client.Get("/v1/users/" + user + "/signals?types=" + signal + "&limit=1", &body);
      const int64_t now = MonoUs();
      if (status != 200) {
        if (errors->fetch_add(1) == 0) {
          std::fprintf(stderr, "latency: GET for %s answered %d: %.200s\n", user.c_str(), status,
                       body.c_str());
        }
        continue;
      }
      size_t v = body.find("\"version\":");
      if (v == std::string::npos) continue;  // not visible yet
      p.version_ms.store(std::strtoll(body.c_str() + v + 10, nullptr, 10));
      p.seen_us.store(now);
    }
    if (!any || interval_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(interval_us));
  }
}

void Produce(rd_kafka_t* rk, const std::string& topic, const std::string& key,
             const std::string& value) {
  for (;;) {
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(key.data(), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      std::fprintf(stderr, "latency: produce: %s\n", rd_kafka_err2str(err));
      std::exit(1);
    }
    rd_kafka_poll(rk, 10);
  }
}

}  // namespace

int Latency(const Flags& flags) {
  if (flags.Has("help")) {
    std::fprintf(stderr,
                 "usage: usp-bench-kafka latency --bootstrap B --topic T --mode usp|raw\n"
                 "  [--url http://127.0.0.1:PORT --signal NAME]   (usp: the query API)\n"
                 "  [--rate 1000] events/s in all  [--probes 1000]  [--probe-every 20]\n"
                 "  [--users 100000] background users  [--pollers 2]  [--poll-us 1000]\n"
                 "  [--warmup-s 2]  [--ready-timeout-s 60]  [--probe-timeout-s 10]\n"
                 "  [--fetch-wait-ms 50]  (raw: the consumer's fetch.wait.max.ms, USP's default)\n");
    return 0;
  }
  const std::string bootstrap = flags.Str("bootstrap");
  const std::string topic = flags.Str("topic");
  const std::string mode = flags.Str("mode");
  if (mode != "usp" && mode != "raw") {
    std::fprintf(stderr, "latency: --mode must be usp or raw, got '%s'\n", mode.c_str());
    return 2;
  }
  const int64_t rate = flags.Int("rate", 1000);
  const int64_t probes = flags.Int("probes", 1000);
  const int64_t probe_every = flags.Int("probe-every", 20);
  const int64_t users = flags.Int("users", 100000);
  const int pollers = static_cast<int>(flags.Int("pollers", 2));
  const int64_t poll_us = flags.Int("poll-us", 1000);
  const int64_t warmup_s = flags.Int("warmup-s", 2);
  const int64_t ready_timeout_s = flags.Int("ready-timeout-s", 60);
  const int64_t probe_timeout_s = flags.Int("probe-timeout-s", 10);
  if (rate <= 0 || probes <= 0 || probe_every <= 0 || users <= 0 || pollers <= 0 || poll_us < 0) {
    std::fprintf(stderr,
                 "latency: --rate, --probes, --probe-every, --users, --pollers must be > 0 and "
                 "--poll-us >= 0\n");
    return 2;
  }
  std::string host = "127.0.0.1";
  int port = 0;
  std::string signal;
  if (mode == "usp") {
    const std::string url = flags.Str("url");
    signal = flags.Str("signal");
    if (std::sscanf(url.c_str(), "http://127.0.0.1:%d", &port) != 1 || port <= 0) {
      std::fprintf(stderr, "latency: --url must be http://127.0.0.1:PORT, got '%s'\n",
                   url.c_str());
      return 2;
    }
  }

  Run run(static_cast<size_t>(probes) + 1);
  run.prefix = "probe-" + std::to_string(NowMs()) + "-" + std::to_string(getpid()) + "-";
  rd_kafka_t* producer = NewClient(RD_KAFKA_PRODUCER, ProducerProperties(bootstrap));
  std::atomic<int64_t> http_errors{0};
  std::vector<std::thread> threads;
  if (mode == "raw") {
    threads.emplace_back(RawConsumer, &run, bootstrap, topic, flags.Str("fetch-wait-ms", "50"));
  } else {
    for (int i = 0; i < pollers; ++i) {
      threads.emplace_back(UspPoller, &run, i, pollers, host, port, signal, poll_us,
                           &http_errors);
    }
  }

  std::mt19937_64 rng(7);
  uint64_t sequence = 0;
  auto send = [&](const std::string& user, Probe* probe) {
    std::string event = MakeEvent(EventShape::kSearch, user, NowMs(), sequence++, rng);
    if (probe != nullptr) {
      probe->sent_wall_ms.store(NowMs());
      probe->sent_us.store(MonoUs());
    }
    Produce(producer, topic, user, event);
    rd_kafka_poll(producer, 0);
  };
  const int64_t interval_us = 1000000 / rate;
  auto background_until = [&](int64_t until_us, int64_t* next_us) {
    while (MonoUs() < until_us) {
      if (MonoUs() >= *next_us) {
        send("u" + std::to_string(rng() % static_cast<uint64_t>(users)), nullptr);
        *next_us += interval_us;
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(
            std::min<int64_t>(*next_us - MonoUs(), until_us - MonoUs()) + 1));
      }
    }
  };

  // The warm-up probe: the pipeline is up once it is seen.
  int64_t next_us = MonoUs();
  const int64_t t_start = next_us;
  send(run.prefix + "warm", &run.probes[0]);
  while (run.probes[0].seen_us.load() == 0) {
    if (MonoUs() - t_start > ready_timeout_s * 1000000) {
      std::fprintf(stderr, "latency: the warm-up probe was not seen within %" PRId64 " s\n",
                   ready_timeout_s);
      run.stop = true;
      for (auto& t : threads) t.join();
      rd_kafka_destroy(producer);
      return 1;
    }
    background_until(MonoUs() + 10000, &next_us);
  }
  const double ready_ms = static_cast<double>(run.probes[0].seen_us - run.probes[0].sent_us) / 1e3;
  std::fprintf(stderr, "latency: %s pipeline ready (warm-up probe seen after %.1f ms)\n",
               mode.c_str(), ready_ms);
  background_until(MonoUs() + warmup_s * 1000000, &next_us);

  // Steady load; every probe_every-th event is a probe.
  const int64_t t_probes = MonoUs();
  int64_t sent = 0;
  int64_t k = 1;
  while (k <= probes) {
    if (MonoUs() >= next_us) {
      if (sent % probe_every == 0) {
        send(run.prefix + std::to_string(k), &run.probes[static_cast<size_t>(k)]);
        ++k;
        if (k % 200 == 0) std::fprintf(stderr, "latency: %" PRId64 " probes sent\n", k);
      } else {
        send("u" + std::to_string(rng() % static_cast<uint64_t>(users)), nullptr);
      }
      ++sent;
      next_us += interval_us;
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(next_us - MonoUs()));
    }
  }
  const double send_seconds = static_cast<double>(MonoUs() - t_probes) / 1e6;
  // Keep the load on while the last probes travel.
  const int64_t deadline = MonoUs() + probe_timeout_s * 1000000;
  auto all_seen = [&] {
    for (const Probe& p : run.probes) {
      if (p.seen_us.load() == 0) return false;
    }
    return true;
  };
  while (!all_seen() && MonoUs() < deadline) background_until(MonoUs() + 10000, &next_us);
  run.stop = true;
  for (auto& t : threads) t.join();
  rd_kafka_flush(producer, 10000);
  rd_kafka_destroy(producer);

  std::vector<double> latency, to_worker, after_worker;
  int64_t lost = 0;
  for (size_t i = 1; i < run.probes.size(); ++i) {
    const Probe& p = run.probes[i];
    if (p.seen_us.load() == 0) {
      ++lost;
      continue;
    }
    latency.push_back(static_cast<double>(p.seen_us.load() - p.sent_us.load()) / 1e3);
    if (mode == "usp" && p.version_ms.load() > 0) {
      const double worker = static_cast<double>(p.version_ms.load() - p.sent_wall_ms.load());
      to_worker.push_back(worker);
      after_worker.push_back(latency.back() - worker);
    }
  }
  const double p99 = Percentile(latency, 99);
  std::printf("{\"mode\":\"%s\",\"topic\":\"%s\",\"rate\":%" PRId64 ",\"probe_every\":%" PRId64
              ",\"probes\":%" PRId64 ",\"lost\":%" PRId64 ",\"send_seconds\":%.3f"
              ",\"ready_ms\":%.1f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f",
              mode.c_str(), topic.c_str(), rate, probe_every, probes, lost, send_seconds, ready_ms,
              Percentile(latency, 50), Percentile(latency, 90), p99,
              latency.empty() ? 0.0 : *std::max_element(latency.begin(), latency.end()));
  if (mode == "usp") {
    std::printf(",\"http_errors\":%" PRId64 ",\"pollers\":%d,\"poll_us\":%" PRId64
                ",\"stages\":{\"produce_to_worker_ms\":%s,\"worker_to_visible_ms\":%s}",
                http_errors.load(), pollers, poll_us, Summary(to_worker).c_str(),
                Summary(after_worker).c_str());
  }
  std::printf("}\n");
  return lost == 0 ? 0 : 1;
}

}  // namespace usp::bench
