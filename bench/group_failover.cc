// usp-bench-group-failover: R7's reference. How long a plain librdkafka
// consumer group with DEFAULT settings takes to hand the partitions of a
// kill -9'ed consumer to a surviving one.
//
//   usp-bench-group-failover --bootstrap HOST:PORT --topic T [--partitions N]
//       [--consumers 2] [--kills 1] [--rate 500] [--timeout-s 120]
//       [--group G] [--json]
//
// The broker and the topic must exist (bench/README.md, "R7"). The tool
//  - produces small keyed messages at --rate events/s, round-robin over every
//    partition of --topic, for the whole run (a thread of this process);
//  - runs --consumers consumers as child processes (this binary in its hidden
//    --consumer-child mode), each subscribed to --topic in one group with
//    only bootstrap.servers, group.id and auto.offset.reset=earliest set. A
//    SIGKILL therefore sends no LeaveGroup: exactly a crashed worker;
//  - waits until the group is settled (every child has an assignment, the
//    assignments cover every partition once, and every partition delivered a
//    message to its owner since its assignment), then per kill: SIGKILLs a
//    child that owns partitions and measures, from the kill,
//      detect_ms    the first rebalance (revoke) a survivor sees: the broker
//                   expired the victim's session
//      assign_ms    until a survivor's assignment holds each of the victim's
//                   partitions (max over them)
//      takeover_ms  until a survivor received a message on each of the
//                   victim's partitions (max over them) -- R7's figure
//    then starts a replacement child and waits for the group to settle again.
//
// Children report over a pipe (their stdout), one JSON object per line:
//   {"ev":"assign"|"revoke","t":US,"changed":[..],"assignment":[..]}
//   {"ev":"msg","t":US,"p":P,"offset":O,"first":BOOL}
//   {"ev":"error","t":US,"error":"..."}
// "t" is CLOCK_MONOTONIC in microseconds (one clock for every process on the
// machine). "msg" comes for the first message of each partition after every
// assignment change, then at most once per 100 ms per partition.
//
// Human lines (one per kill, a summary) go to stdout; with --json they go to
// stderr and stdout gets one JSON object. Progress goes to stderr. Children
// die with the parent (PR_SET_PDEATHSIG) and are stopped on every exit path.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

using nlohmann::json;

constexpr const char* kTool = "usp-bench-group-failover";
constexpr const char* kReference = "librdkafka consumer group, default settings";

int64_t MonoUs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

double Ms(int64_t us) { return static_cast<double>(us) / 1000.0; }

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "%s: %s\n", kTool, message.c_str());
  std::exit(2);
}

// ------------------------------------------------------------------ flags

struct Options {
  std::string bootstrap;
  std::string topic;
  std::string group;
  int partitions_flag = -1;  // --partitions: only reported, checked against metadata
  int consumers = 2;
  int kills = 1;
  int rate = 500;
  int timeout_s = 120;
  bool json = false;
  // --consumer-child
  bool child = false;
  std::string id;
  pid_t parent_pid = 0;
};

void PrintUsage(FILE* out) {
  std::fprintf(
      out,
      "usage: %s --bootstrap HOST:PORT --topic T [--partitions N] [--consumers 2]\n"
      "         [--kills 1] [--rate 500] [--timeout-s 120] [--group G] [--json]\n"
      "\n"
      "R7's reference: kill -9 a member of a plain librdkafka consumer group (default\n"
      "settings: only bootstrap.servers, group.id, auto.offset.reset=earliest) and time\n"
      "until a surviving member consumes each of its partitions. The broker and topic\n"
      "must exist, e.g.  usp-bench-broker T:8  or  uspctl broker --topic T --partitions 8.\n"
      "\n"
      "  --bootstrap   broker bootstrap (HOST:PORT)\n"
      "  --topic       topic to produce to and consume (must exist)\n"
      "  --partitions  expected partition count (only reported; the topic's is used)\n"
      "  --consumers   consumer processes in the group (>= 2)          [2]\n"
      "  --kills       kill -9 trials                                  [1]\n"
      "  --rate        produced events/s, round-robin over partitions  [500]\n"
      "  --timeout-s   bound on each takeover and each settle          [120]\n"
      "  --group       group.id                            [unique per run]\n"
      "  --json        one JSON object on stdout (human lines to stderr)\n"
      "\n"
      "With default settings expect ~45 s (session.timeout.ms) or more per kill.\n",
      kTool);
}

int ParseInt(const std::string& name, const std::string& text) {
  char* end = nullptr;
  long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0') Die("--" + name + ": not an integer: " + text);
  return static_cast<int>(v);
}

// Returns nullopt after --help (usage printed).
std::optional<Options> ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      PrintUsage(stdout);
      return std::nullopt;
    }
    if (arg == "--json") {
      o.json = true;
      continue;
    }
    if (arg == "--consumer-child") {
      o.child = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0) {
      PrintUsage(stderr);
      Die("unexpected argument '" + arg + "'");
    }
    std::string name = arg.substr(2);
    std::string value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      Die("--" + name + " needs a value");
    }
    if (name == "bootstrap") {
      o.bootstrap = value;
    } else if (name == "topic") {
      o.topic = value;
    } else if (name == "group") {
      o.group = value;
    } else if (name == "partitions") {
      o.partitions_flag = ParseInt(name, value);
    } else if (name == "consumers") {
      o.consumers = ParseInt(name, value);
    } else if (name == "kills") {
      o.kills = ParseInt(name, value);
    } else if (name == "rate") {
      o.rate = ParseInt(name, value);
    } else if (name == "timeout-s") {
      o.timeout_s = ParseInt(name, value);
    } else if (name == "id") {
      o.id = value;
    } else if (name == "parent-pid") {
      o.parent_pid = static_cast<pid_t>(ParseInt(name, value));
    } else {
      PrintUsage(stderr);
      Die("unknown flag --" + name);
    }
  }
  if (o.bootstrap.empty()) Die("missing --bootstrap (see --help)");
  if (o.topic.empty()) Die("missing --topic (see --help)");
  if (o.child) {
    if (o.group.empty()) Die("--consumer-child needs --group");
    return o;
  }
  if (o.consumers < 2) Die("--consumers must be >= 2 (a survivor must take over)");
  if (o.kills < 1) Die("--kills must be >= 1");
  if (o.rate < 1) Die("--rate must be >= 1");
  if (o.timeout_s < 1) Die("--timeout-s must be >= 1");
  return o;
}

// The defaults this librdkafka build applies when a setting is left alone.
std::string DefaultSetting(const char* name) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char value[512];
  size_t size = sizeof(value);
  std::string result;
  if (rd_kafka_conf_get(conf, name, value, &size) == RD_KAFKA_CONF_OK) result = value;
  rd_kafka_conf_destroy(conf);
  return result;
}

rd_kafka_conf_t* NewConf(const std::vector<std::pair<std::string, std::string>>& settings) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char errstr[512];
  for (const auto& [name, value] : settings) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK) {
      Die(name + ": " + errstr);
    }
  }
  return conf;
}

rd_kafka_t* NewClient(rd_kafka_type_t type, rd_kafka_conf_t* conf) {
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
  if (rk == nullptr) Die(std::string("rd_kafka_new: ") + errstr);
  return rk;
}

// ------------------------------------------------------------------ child

volatile sig_atomic_t g_child_stop = 0;

void OnChildSignal(int /*sig*/) { g_child_stop = 1; }

void WriteLine(const json& line) {
  std::string text = line.dump();
  text += '\n';
  const char* data = text.data();
  size_t left = text.size();
  while (left > 0) {
    ssize_t n = write(STDOUT_FILENO, data, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      _exit(3);  // the parent is gone
    }
    data += n;
    left -= static_cast<size_t>(n);
  }
}

struct ChildState {
  std::map<int32_t, int64_t> last_report_us;  // per assigned partition
};
ChildState g_child;

std::vector<int32_t> PartitionsOf(const rd_kafka_topic_partition_list_t* list) {
  std::vector<int32_t> out;
  if (list == nullptr) return out;
  for (int i = 0; i < list->cnt; ++i) out.push_back(list->elems[i].partition);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<int32_t> CurrentAssignment(rd_kafka_t* rk) {
  rd_kafka_topic_partition_list_t* list = nullptr;
  std::vector<int32_t> out;
  if (rd_kafka_assignment(rk, &list) == RD_KAFKA_RESP_ERR_NO_ERROR) out = PartitionsOf(list);
  if (list != nullptr) rd_kafka_topic_partition_list_destroy(list);
  return out;
}

// Applies the assignment change (eager or cooperative protocol) and reports
// the new full assignment. No settings are involved: a rebalance callback
// that does what librdkafka does without one, plus the report.
void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                 rd_kafka_topic_partition_list_t* partitions, void* /*opaque*/) {
  const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
  const bool assign = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
  if (assign) {
    if (cooperative) {
      rd_kafka_error_t* e = rd_kafka_incremental_assign(rk, partitions);
      if (e != nullptr) rd_kafka_error_destroy(e);
    } else {
      rd_kafka_assign(rk, partitions);
    }
    // The next message of each newly assigned partition is a "first".
    for (int32_t p : PartitionsOf(partitions)) g_child.last_report_us.erase(p);
  } else {
    if (cooperative) {
      rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk, partitions);
      if (e != nullptr) rd_kafka_error_destroy(e);
    } else {
      rd_kafka_assign(rk, nullptr);
    }
    for (int32_t p : PartitionsOf(partitions)) g_child.last_report_us.erase(p);
  }
  WriteLine({{"ev", assign ? "assign" : "revoke"},
             {"t", MonoUs()},
             {"changed", PartitionsOf(partitions)},
             {"assignment", CurrentAssignment(rk)},
             {"reason", rd_kafka_err2name(err)}});
}

int RunChild(const Options& o) {
  // Die with the parent; if it is already gone, stop now.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (o.parent_pid != 0 && getppid() != o.parent_pid) return 0;
  struct sigaction sa {};
  sa.sa_handler = OnChildSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  // DEFAULT settings: only these three. The rebalance callback is a hook for
  // the report, not a setting (it assigns exactly what librdkafka would).
  rd_kafka_conf_t* conf = NewConf({{"bootstrap.servers", o.bootstrap},
                                   {"group.id", o.group},
                                   {"auto.offset.reset", "earliest"}});
  rd_kafka_conf_set_rebalance_cb(conf, OnRebalance);
  rd_kafka_t* rk = NewClient(RD_KAFKA_CONSUMER, conf);
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, o.topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    WriteLine({{"ev", "error"}, {"t", MonoUs()}, {"error", rd_kafka_err2str(err)}});
    return 1;
  }
  WriteLine({{"ev", "hello"}, {"t", MonoUs()}, {"pid", getpid()}});

  int64_t last_error_us = 0;
  while (!g_child_stop) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (m == nullptr) continue;
    const int64_t now = MonoUs();
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF && now - last_error_us > 1000000) {
        last_error_us = now;
        WriteLine({{"ev", "error"}, {"t", now}, {"error", rd_kafka_message_errstr(m)}});
      }
    } else {
      auto it = g_child.last_report_us.find(m->partition);
      const bool first = it == g_child.last_report_us.end();
      if (first || now - it->second >= 100000) {
        g_child.last_report_us[m->partition] = now;
        WriteLine({{"ev", "msg"},
                   {"t", now},
                   {"p", m->partition},
                   {"offset", m->offset},
                   {"first", first}});
      }
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return 0;
}

// ------------------------------------------------------------------ parent

std::atomic<bool> g_interrupted{false};
int64_t g_start_us = 0;

void OnParentSignal(int /*sig*/) { g_interrupted = true; }

void Progress(const char* format, ...) __attribute__((format(printf, 1, 2)));
void Progress(const char* format, ...) {
  char text[1024];
  va_list args;
  va_start(args, format);
  std::vsnprintf(text, sizeof(text), format, args);
  va_end(args);
  std::fprintf(stderr, "[%7.1fs] %s\n", Ms(MonoUs() - g_start_us) / 1000.0, text);
}

std::string Join(const std::set<int32_t>& values) {
  std::string out;
  for (int32_t v : values) {
    if (!out.empty()) out += ',';
    out += std::to_string(v);
  }
  return out.empty() ? "-" : out;
}

struct Event {
  enum Type { kHello, kAssign, kRevoke, kMsg, kError } type = kHello;
  int64_t t = 0;
  std::set<int32_t> assignment;  // assign / revoke: the full assignment after it
  std::set<int32_t> changed;     // assign / revoke: what changed
  int32_t partition = -1;        // msg
  bool first = false;            // msg
  std::string error;
};

struct Child {
  std::string name;
  pid_t pid = 0;
  int fd = -1;
  bool alive = false;
  std::string buffer;
  std::set<int32_t> assignment;
  bool assigned = false;      // has had an assign and no revoke since
  int64_t assign_t = 0;       // the last assign
  std::map<int32_t, int64_t> flowing;  // first message per partition since then
};

// Every child ever started (pids for cleanup on any exit path).
std::vector<Child>* g_children = nullptr;

void StopChildren(bool graceful) {
  if (g_children == nullptr) return;
  for (Child& c : *g_children) {
    if (c.alive) kill(c.pid, graceful ? SIGTERM : SIGKILL);
  }
  const int64_t deadline = MonoUs() + (graceful ? 5000000 : 0);
  for (Child& c : *g_children) {
    if (!c.alive) continue;
    int status = 0;
    while (waitpid(c.pid, &status, WNOHANG) == 0) {
      if (MonoUs() > deadline) {
        kill(c.pid, SIGKILL);
        waitpid(c.pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    c.alive = false;
    if (c.fd >= 0) close(c.fd);
    c.fd = -1;
  }
}

void StopChildrenAtExit() { StopChildren(false); }

using Observer = std::function<void(const Child&, const Event&)>;

class Harness {
 public:
  Harness(const Options& o, int32_t partitions) : o_(o), partitions_(partitions) {
    g_children = &children_;
  }

  bool Spawn() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
      Progress("pipe2: %s", std::strerror(errno));
      return false;
    }
    Child c;
    c.name = "c" + std::to_string(next_id_++);
    std::vector<std::string> args = {kTool,         "--consumer-child",
                                     "--bootstrap", o_.bootstrap,
                                     "--topic",     o_.topic,
                                     "--group",     o_.group,
                                     "--id",        c.name,
                                     "--parent-pid", std::to_string(getpid())};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    int rc = posix_spawn(&c.pid, "/proc/self/exe", &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    if (rc != 0) {
      close(fds[0]);
      Progress("cannot start a consumer: %s", std::strerror(rc));
      return false;
    }
    fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
    c.fd = fds[0];
    c.alive = true;
    Progress("started consumer %s (pid %d)", c.name.c_str(), static_cast<int>(c.pid));
    children_.push_back(std::move(c));
    return true;
  }

  int Alive() const {
    int n = 0;
    for (const Child& c : children_) n += c.alive ? 1 : 0;
    return n;
  }

  // Reads what the children wrote within `timeout_ms`, updates their state
  // and hands every event to `observer` (after the update).
  void Pump(int timeout_ms, const Observer& observer) {
    std::vector<pollfd> fds;
    std::vector<size_t> index;
    for (size_t i = 0; i < children_.size(); ++i) {
      if (!children_[i].alive) continue;
      fds.push_back({children_[i].fd, POLLIN, 0});
      index.push_back(i);
    }
    if (fds.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(timeout_ms));
      return;
    }
    int n = poll(fds.data(), fds.size(), timeout_ms);
    if (n <= 0) return;
    for (size_t k = 0; k < fds.size(); ++k) {
      if (fds[k].revents == 0) continue;
      Child& c = children_[index[k]];
      char chunk[65536];
      for (;;) {
        ssize_t got = read(c.fd, chunk, sizeof(chunk));
        if (got > 0) {
          c.buffer.append(chunk, static_cast<size_t>(got));
          continue;
        }
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) break;
        // EOF: the child exited on its own.
        int status = 0;
        waitpid(c.pid, &status, 0);
        Progress("consumer %s (pid %d) exited unexpectedly (status %d)", c.name.c_str(),
                 static_cast<int>(c.pid), status);
        close(c.fd);
        c.fd = -1;
        c.alive = false;
        c.assignment.clear();
        c.assigned = false;
        break;
      }
      size_t nl;
      while ((nl = c.buffer.find('\n')) != std::string::npos) {
        std::string line = c.buffer.substr(0, nl);
        c.buffer.erase(0, nl + 1);
        Handle(c, line, observer);
      }
    }
  }

  // Settled: the expected number of children, each with an assignment and
  // no rebalance under way, every partition owned by exactly one, and every
  // partition delivered a message to its owner since that assignment.
  bool Settled() const {
    if (Alive() != o_.consumers) return false;
    std::vector<int> owners(static_cast<size_t>(partitions_), 0);
    for (const Child& c : children_) {
      if (!c.alive) continue;
      if (!c.assigned) return false;
      for (int32_t p : c.assignment) {
        if (p < 0 || p >= partitions_) return false;
        if (c.flowing.count(p) == 0) return false;
        ++owners[static_cast<size_t>(p)];
      }
    }
    return std::all_of(owners.begin(), owners.end(), [](int n) { return n == 1; });
  }

  std::string Describe() const {
    std::string out;
    for (const Child& c : children_) {
      if (!c.alive) continue;
      if (!out.empty()) out += "; ";
      out += c.name + (c.assigned ? "" : " (rebalancing)") + ": " + Join(c.assignment);
    }
    return out;
  }

  // Starts children until there are --consumers, then waits until Settled()
  // has held for a second. False on timeout or interruption.
  bool Settle(const char* what) {
    while (Alive() < o_.consumers) {
      if (!Spawn()) return false;
    }
    const int64_t start = MonoUs();
    const int64_t deadline = start + static_cast<int64_t>(o_.timeout_s) * 1000000;
    int64_t settled_since = 0;
    int64_t last_progress = start;
    const Observer none = [](const Child&, const Event&) {};
    while (!g_interrupted) {
      Pump(50, none);
      const int64_t now = MonoUs();
      if (Alive() < o_.consumers && !Spawn()) return false;
      if (Settled()) {
        if (settled_since == 0) settled_since = now;
        if (now - settled_since >= 1000000) {
          Progress("group settled %s after %.1f s: %s", what, Ms(now - start) / 1000.0,
                   Describe().c_str());
          return true;
        }
      } else {
        settled_since = 0;
      }
      if (now > deadline) {
        Progress("group did not settle %s within %d s: %s", what, o_.timeout_s,
                 Describe().c_str());
        return false;
      }
      if (now - last_progress >= 10000000) {
        last_progress = now;
        Progress("waiting for the group to settle %s (%.0f s): %s", what,
                 Ms(now - start) / 1000.0, Describe().c_str());
      }
    }
    return false;
  }

  // Picks a live child owning partitions (rotating over trials).
  Child* PickVictim(int trial) {
    std::vector<Child*> candidates;
    for (Child& c : children_) {
      if (c.alive && !c.assignment.empty()) candidates.push_back(&c);
    }
    if (candidates.empty()) return nullptr;
    return candidates[static_cast<size_t>(trial) % candidates.size()];
  }

  void Kill(Child& c) {
    kill(c.pid, SIGKILL);
    int status = 0;
    waitpid(c.pid, &status, 0);
    close(c.fd);
    c.fd = -1;
    c.alive = false;
  }

 private:
  void Handle(Child& c, const std::string& line, const Observer& observer) {
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object() || !j.contains("ev") || !j.contains("t")) {
      Progress("%s: %s", c.name.c_str(), line.c_str());
      return;
    }
    Event e;
    const std::string ev = j["ev"].get<std::string>();
    e.t = j["t"].get<int64_t>();
    if (ev == "assign" || ev == "revoke") {
      e.type = ev == "assign" ? Event::kAssign : Event::kRevoke;
      for (const auto& p : j["assignment"]) e.assignment.insert(p.get<int32_t>());
      for (const auto& p : j["changed"]) e.changed.insert(p.get<int32_t>());
      c.assignment = e.assignment;
      if (e.type == Event::kAssign) {
        c.assigned = true;
        c.assign_t = e.t;
        // Partitions newly assigned must deliver again to count as flowing.
        for (int32_t p : e.changed) c.flowing.erase(p);
      } else {
        c.assigned = false;
        for (int32_t p : e.changed) c.flowing.erase(p);
      }
      for (auto it = c.flowing.begin(); it != c.flowing.end();) {
        it = c.assignment.count(it->first) ? std::next(it) : c.flowing.erase(it);
      }
    } else if (ev == "msg") {
      e.type = Event::kMsg;
      e.partition = j["p"].get<int32_t>();
      e.first = j.value("first", false);
      if (c.assignment.count(e.partition) && !c.flowing.count(e.partition)) {
        c.flowing[e.partition] = e.t;
      }
    } else if (ev == "error") {
      e.type = Event::kError;
      e.error = j.value("error", "");
      Progress("%s: consumer error: %s", c.name.c_str(), e.error.c_str());
    } else if (ev == "hello") {
      e.type = Event::kHello;
    } else {
      return;
    }
    observer(c, e);
  }

  const Options& o_;
  const int32_t partitions_;
  std::vector<Child> children_;
  int next_id_ = 1;
};

// ------------------------------------------------------------------ producer

class Producer {
 public:
  Producer(const Options& o, int32_t partitions) : o_(o), partitions_(partitions) {
    rk_ = NewClient(RD_KAFKA_PRODUCER, NewConf({{"bootstrap.servers", o.bootstrap}}));
    rkt_ = rd_kafka_topic_new(rk_, o.topic.c_str(), nullptr);
  }
  ~Producer() {
    Stop();
    rd_kafka_flush(rk_, 5000);
    rd_kafka_topic_destroy(rkt_);
    rd_kafka_destroy(rk_);
  }

  void Start() {
    thread_ = std::thread([this] { Run(); });
  }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int64_t produced() const { return produced_; }
  int64_t failed() const { return failed_; }

 private:
  void Run() {
    const int64_t interval_us = std::max<int64_t>(1, 1000000 / o_.rate);
    int64_t next = MonoUs();
    int64_t seq = 0;
    while (!stop_) {
      int64_t now = MonoUs();
      if (now < next) {
        // Serve delivery reports, then sleep (no spinning: the machine is
        // shared with the consumers under test); at most 5 ms per wait.
        rd_kafka_poll(rk_, 0);
        std::this_thread::sleep_for(
            std::chrono::microseconds(std::min<int64_t>(5000, next - now)));
        continue;
      }
      if (now - next > 1000000) next = now;  // fell behind: no burst
      next += interval_us;
      const int32_t partition = static_cast<int32_t>(seq % partitions_);
      const std::string key = "user-" + std::to_string(seq % 1000);
      const std::string value =
          "{\"seq\":" + std::to_string(seq) + ",\"t_us\":" + std::to_string(now) + "}";
      for (;;) {
        int rc = rd_kafka_produce(rkt_, partition, RD_KAFKA_MSG_F_COPY,
                                  const_cast<char*>(value.data()), value.size(), key.data(),
                                  key.size(), nullptr);
        if (rc == 0) {
          ++produced_;
          break;
        }
        if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL || stop_) {
          ++failed_;
          break;
        }
        rd_kafka_poll(rk_, 100);
      }
      ++seq;
      rd_kafka_poll(rk_, 0);
    }
  }

  const Options& o_;
  const int32_t partitions_;
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_topic_t* rkt_ = nullptr;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> produced_{0};
  std::atomic<int64_t> failed_{0};
};

// Partitions of `topic` from a full metadata request (a request naming the
// topic could auto-create it on the mock cluster).
int32_t TopicPartitions(const Options& o) {
  rd_kafka_t* rk = NewClient(RD_KAFKA_PRODUCER, NewConf({{"bootstrap.servers", o.bootstrap}}));
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, nullptr, &md, 10000);
  int32_t partitions = -1;
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    for (int i = 0; i < md->topic_cnt; ++i) {
      if (o.topic == md->topics[i].topic && md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        partitions = md->topics[i].partition_cnt;
      }
    }
    rd_kafka_metadata_destroy(md);
  }
  rd_kafka_destroy(rk);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    Die("metadata from " + o.bootstrap + ": " + rd_kafka_err2str(err));
  }
  if (partitions <= 0) Die("topic " + o.topic + " does not exist on " + o.bootstrap);
  return partitions;
}

double Percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(values.size())));
  return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

struct Trial {
  std::string victim;
  std::set<int32_t> partitions;
  std::optional<double> detect_ms;
  std::optional<double> assign_ms;
  std::optional<double> takeover_ms;
};

int RunParent(Options o) {
  g_start_us = MonoUs();
  if (o.group.empty()) {
    o.group = "usp-bench-group-failover-" + std::to_string(getpid()) + "-" +
              std::to_string(static_cast<long long>(time(nullptr)));
  }
  struct sigaction sa {};
  sa.sa_handler = OnParentSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  std::atexit(StopChildrenAtExit);

  const std::string session_timeout = DefaultSetting("session.timeout.ms");
  const std::string heartbeat = DefaultSetting("heartbeat.interval.ms");
  const std::string strategy = DefaultSetting("partition.assignment.strategy");
  const int32_t partitions = TopicPartitions(o);
  if (o.partitions_flag > 0 && o.partitions_flag != partitions) {
    Progress("warning: --partitions %d, but %s has %d partitions; using %d", o.partitions_flag,
             o.topic.c_str(), partitions, partitions);
  }
  Progress("librdkafka %s, defaults: session.timeout.ms=%s heartbeat.interval.ms=%s "
           "partition.assignment.strategy=%s",
           rd_kafka_version_str(), session_timeout.c_str(), heartbeat.c_str(), strategy.c_str());
  Progress("topic %s (%d partitions), group %s, %d consumers, %d kill(s), %d events/s",
           o.topic.c_str(), partitions, o.group.c_str(), o.consumers, o.kills, o.rate);

  Producer producer(o, partitions);
  producer.Start();
  Harness harness(o, partitions);
  std::vector<Trial> trials;
  bool ok = harness.Settle("at start");

  for (int k = 0; ok && k < o.kills && !g_interrupted; ++k) {
    if (k > 0 && !(ok = harness.Settle("after the replacement joined"))) break;
    Child* victim = harness.PickVictim(k);
    if (victim == nullptr) {
      Progress("no consumer owns partitions");
      ok = false;
      break;
    }
    Trial trial;
    trial.victim = victim->name;
    trial.partitions = victim->assignment;
    std::map<int32_t, int64_t> assigned_at;
    std::map<int32_t, int64_t> first_at;
    std::optional<int64_t> detected_at;
    const pid_t victim_pid = victim->pid;
    const int64_t t_kill = MonoUs();
    harness.Kill(*victim);  // `victim` stays valid: no child is added before the next kill
    Progress("kill %d/%d: SIGKILL %s (pid %d), owner of partitions %s", k + 1, o.kills,
             trial.victim.c_str(), static_cast<int>(victim_pid), Join(trial.partitions).c_str());

    const Observer observe = [&](const Child& c, const Event& e) {
      if (e.t < t_kill) return;
      const double at_s = Ms(e.t - t_kill) / 1000.0;
      if (e.type == Event::kRevoke || e.type == Event::kAssign) {
        Progress("  +%.3f s %s %s %s -> assignment %s", at_s, c.name.c_str(),
                 e.type == Event::kAssign ? "assigned" : "revoked", Join(e.changed).c_str(),
                 Join(e.assignment).c_str());
      }
      if (e.type == Event::kRevoke && !detected_at) detected_at = e.t;
      if (e.type == Event::kAssign) {
        if (!detected_at) detected_at = e.t;
        for (int32_t p : e.assignment) {
          if (trial.partitions.count(p) && !assigned_at.count(p)) assigned_at[p] = e.t;
        }
      }
      if (e.type == Event::kMsg && trial.partitions.count(e.partition) &&
          c.assignment.count(e.partition) && c.assign_t >= t_kill &&
          !first_at.count(e.partition)) {
        first_at[e.partition] = e.t;
        Progress("  +%.3f s %s first message on partition %d", at_s, c.name.c_str(),
                 e.partition);
      }
    };
    const int64_t deadline = t_kill + static_cast<int64_t>(o.timeout_s) * 1000000;
    int64_t last_progress = t_kill;
    while (!g_interrupted && first_at.size() < trial.partitions.size()) {
      harness.Pump(50, observe);
      const int64_t now = MonoUs();
      if (now > deadline) break;
      if (now - last_progress >= 10000000) {
        last_progress = now;
        Progress("  +%.0f s waiting: %s", Ms(now - t_kill) / 1000.0, harness.Describe().c_str());
      }
    }
    auto max_of = [&](const std::map<int32_t, int64_t>& at) -> std::optional<double> {
      if (at.size() < trial.partitions.size()) return std::nullopt;
      int64_t worst = 0;
      for (const auto& [p, t] : at) worst = std::max(worst, t - t_kill);
      return Ms(worst);
    };
    if (g_interrupted) {
      Progress("interrupted during kill %d/%d: the trial is dropped", k + 1, o.kills);
      break;
    }
    if (detected_at) trial.detect_ms = Ms(*detected_at - t_kill);
    trial.assign_ms = max_of(assigned_at);
    trial.takeover_ms = max_of(first_at);

    FILE* human = o.json ? stderr : stdout;
    auto fmt = [](const std::optional<double>& ms) {
      char text[64];
      if (ms) {
        std::snprintf(text, sizeof(text), "%.3f s", *ms / 1000.0);
      } else {
        std::snprintf(text, sizeof(text), "none");
      }
      return std::string(text);
    };
    std::fprintf(human,
                 "kill %d/%d: %s owned partitions %s; survivor saw the rebalance after %s, "
                 "was assigned them after %s, first message on every one after %s%s\n",
                 k + 1, o.kills, trial.victim.c_str(), Join(trial.partitions).c_str(),
                 fmt(trial.detect_ms).c_str(), fmt(trial.assign_ms).c_str(),
                 fmt(trial.takeover_ms).c_str(),
                 trial.takeover_ms ? "" : (" (timed out after " + std::to_string(o.timeout_s) +
                                           " s)").c_str());
    std::fflush(human);
    trials.push_back(trial);
    // The next trial starts from a settled group with a replacement (Settle
    // spawns it); none is needed after the last kill.
  }

  producer.Stop();
  StopChildren(/*graceful=*/true);

  std::vector<double> takeover;
  json takeover_json = json::array();
  json assign_json = json::array();
  json detect_json = json::array();
  int timed_out = 0;
  for (const Trial& t : trials) {
    if (t.takeover_ms) {
      takeover.push_back(*t.takeover_ms);
    } else {
      ++timed_out;
    }
    takeover_json.push_back(t.takeover_ms ? json(*t.takeover_ms) : json(nullptr));
    assign_json.push_back(t.assign_ms ? json(*t.assign_ms) : json(nullptr));
    detect_json.push_back(t.detect_ms ? json(*t.detect_ms) : json(nullptr));
  }
  const double p50 = Percentile(takeover, 0.50);
  const double p99 = Percentile(takeover, 0.99);
  const double max = takeover.empty() ? 0 : *std::max_element(takeover.begin(), takeover.end());
  const bool complete = ok && !g_interrupted && timed_out == 0 &&
                        static_cast<int>(trials.size()) == o.kills;

  FILE* human = o.json ? stderr : stdout;
  std::fprintf(human,
               "R7 reference (%s, librdkafka %s, session.timeout.ms=%s): kill -9 -> first "
               "message on every partition of the victim: p50 %.3f s, p99 %.3f s, max %.3f s "
               "over %zu kill(s)%s\n",
               kReference, rd_kafka_version_str(), session_timeout.c_str(), p50 / 1000.0,
               p99 / 1000.0, max / 1000.0, takeover.size(),
               complete ? "" : " (INCOMPLETE: see the lines above)");
  std::fflush(human);
  if (o.json) {
    json out = {{"reference", kReference},
                {"librdkafka", rd_kafka_version_str()},
                {"topic", o.topic},
                {"partitions", partitions},
                {"consumers", o.consumers},
                {"rate", o.rate},
                {"kills", static_cast<int>(trials.size())},
                {"complete", complete},
                {"timed_out", timed_out},
                {"timeout_s", o.timeout_s},
                {"takeover_ms", takeover_json},
                {"assign_ms", assign_json},
                {"detect_ms", detect_json},
                {"p50_ms", p50},
                {"p99_ms", p99},
                {"max_ms", max},
                {"session_timeout_ms", std::atoi(session_timeout.c_str())},
                {"heartbeat_interval_ms", std::atoi(heartbeat.c_str())},
                {"partition_assignment_strategy", strategy},
                {"produced", producer.produced()},
                {"produce_failures", producer.failed()}};
    std::printf("%s\n", out.dump().c_str());
    std::fflush(stdout);
  }
  return complete ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<Options> options = ParseOptions(argc, argv);
  if (!options) return 0;
  if (options->child) return RunChild(*options);
  return RunParent(*options);
}
