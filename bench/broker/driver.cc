#include "bench/broker/driver.h"

#include <fmt/format.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include "bench/broker/child_process.h"

namespace runnel::bench {
namespace {

enum class Kind { kProduceAcks1, kProduceAcksAll, kConsumeWindow, kConsumeFull };

struct Measure {
  bool ran = false;
  bool ok = false;
  std::string error;
  uint64_t messages = 0;
  uint64_t bytes = 0;
  double seconds = 0;
  double cpu_seconds = 0;  // the broker process's, over the same interval
  int64_t dirty_mb = -1;   // the kernel's dirty page cache at the start (/proc/meminfo)
  int64_t free_mb = -1;    // free memory at the start (/proc/meminfo MemFree)

  double MegabytesPerSecond() const { return seconds > 0 ? bytes / seconds / 1e6 : 0; }
  double MessagesPerSecond() const { return seconds > 0 ? messages / seconds : 0; }
  double CpuSecondsPerGigabyte() const { return bytes > 0 ? cpu_seconds / (bytes / 1e9) : 0; }
};

struct Case {
  std::string label;
  Kind kind;
  int partitions;
  std::string what;             // topic name part: acks1, acksall, window
  double rate_target;           // runnel / mock, at least
  std::vector<Measure> runnel;  // one per round
  std::vector<Measure> mock;

  // Every round has its own topics, so each produce case starts from an empty log.
  std::string Topic(int round) const {
    return fmt::format("bench-r{}-p{}-{}", round, partitions, what);
  }
};

// The median of `metric` over the rounds; nullopt unless every round ran and succeeded.
std::optional<double> Median(const std::vector<Measure>& rounds,
                             double (Measure::*metric)() const) {
  std::vector<double> values;
  for (const Measure& m : rounds) {
    if (!m.ok) return std::nullopt;
    values.push_back((m.*metric)());
  }
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

struct Broker {
  std::string name;
  std::unique_ptr<ChildProcess> process;
  std::string bootstrap;
  bool create_with_admin_api = true;  // false: the mock created its topics at start
  std::string log_path;
};

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return fmt::format("{} {} {}", one, five, fifteen);
}

// A /proc/meminfo figure in MB ("Dirty:", "MemFree:"), -1 if absent. Runnel's write path costs
// more CPU while its page cache grows into free memory this VM's hypervisor has not backed
// (bench/broker/README.md), so each measurement prints both.
int64_t MeminfoMegabytes(const std::string& wanted) {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit) {
    if (key == wanted) return kb / 1024;
  }
  return -1;
}

std::string LogTail(const std::string& path) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text.size() > 2000 ? text.substr(text.size() - 2000) : text;
}

std::optional<Broker> StartRunnel(const DriverOptions& o, const std::string& temp,
                                  std::string& error) {
  Broker b;
  b.name = "runnel";
  const uint16_t port = FreeLoopbackPort();
  b.bootstrap = fmt::format("127.0.0.1:{}", port);
  b.log_path = temp + "/runnel.log";
  std::vector<std::string> argv = {o.runnel,       "--listen", b.bootstrap,           "--data-dir",
                                   temp + "/data", "--smp",    std::to_string(o.smp), "--log-level",
                                   "warn"};
  argv.insert(argv.end(), o.runnel_args.begin(), o.runnel_args.end());
  fmt::print("runnel: {}\n", fmt::join(argv, " "));
  b.process = ChildProcess::Start(argv, b.log_path, false, error);
  if (!b.process) return std::nullopt;
  if (!AwaitListening(port, *b.process, 20000, error)) {
    error += "\n" + LogTail(b.log_path);
    return std::nullopt;
  }
  return b;
}

std::optional<Broker> StartMock(const DriverOptions& o, const std::vector<Case>& cases,
                                const std::string& temp, std::string& error) {
  Broker b;
  b.name = "mock";
  b.create_with_admin_api = false;
  b.log_path = temp + "/mock.log";
  std::vector<std::string> argv = {o.self, "mock"};
  for (int round = 1; round <= o.rounds; ++round) {
    for (const Case& c : cases) {
      if (c.kind == Kind::kConsumeFull) continue;
      argv.push_back("--topic");
      argv.push_back(fmt::format("{}:{}", c.Topic(round), c.partitions));
    }
  }
  b.process = ChildProcess::Start(argv, b.log_path, true, error);
  if (!b.process) return std::nullopt;
  std::optional<std::string> line = b.process->ReadLine(20000);
  const std::string prefix = "bootstrap ";
  if (!line || line->rfind(prefix, 0) != 0) {
    error = "the mock cluster printed no bootstrap address: " + LogTail(b.log_path);
    return std::nullopt;
  }
  b.bootstrap = line->substr(prefix.size());
  fmt::print("mock: {} (librdkafka rdkafka_mock, 1 broker, pid {})\n", b.bootstrap,
             b.process->pid());
  return b;
}

Measure RunCase(const DriverOptions& o, Broker& broker, const Case& c, int round) {
  const std::string topic = c.Topic(round);
  Measure m;
  m.ran = true;
  LoadSettings settings = o.settings;
  settings.bootstrap = broker.bootstrap;
  double cpu_start = 0;
  auto on_start = [&] {
    m.dirty_mb = MeminfoMegabytes("Dirty:");
    m.free_mb = MeminfoMegabytes("MemFree:");
    cpu_start = broker.process->CpuSeconds();
  };
  auto finish = [&](bool ok, const std::string& error, uint64_t messages, uint64_t bytes,
                    double seconds) {
    m.cpu_seconds = broker.process->CpuSeconds() - cpu_start;
    m.ok = ok;
    m.error = error;
    m.messages = messages;
    m.bytes = bytes;
    m.seconds = seconds;
  };
  switch (c.kind) {
    case Kind::kProduceAcks1:
    case Kind::kProduceAcksAll: {
      if (!CreateTopic(settings, topic, c.partitions, broker.create_with_admin_api, m.error)) {
        return m;
      }
      const int acks = c.kind == Kind::kProduceAcks1 ? 1 : -1;
      ProduceOutcome p = Produce(settings, topic, c.partitions, acks, o.messages, on_start);
      finish(p.ok, p.error, p.acked, p.bytes, p.seconds);
      break;
    }
    case Kind::kConsumeWindow: {
      if (!CreateTopic(settings, topic, c.partitions, broker.create_with_admin_api, m.error)) {
        return m;
      }
      const uint64_t window = o.window_per_partition * static_cast<uint64_t>(c.partitions);
      ProduceOutcome fill = Produce(settings, topic, c.partitions, 1, window, [] {});
      if (!fill.ok) {
        m.error = "filling the consume topic: " + fill.error;
        return m;
      }
      const uint64_t passes = std::max<uint64_t>(1, (o.consume_messages + window - 1) / window);
      ConsumeOutcome r = Consume(settings, topic, c.partitions, window, passes, on_start);
      finish(r.ok, r.error, r.messages, r.bytes, r.seconds);
      break;
    }
    case Kind::kConsumeFull: {
      ConsumeOutcome r = Consume(settings, topic, c.partitions, o.messages, 1, on_start);
      finish(r.ok, r.error, r.messages, r.bytes, r.seconds);
      break;
    }
  }
  return m;
}

void PrintMeasure(const std::string& broker, const Case& c, int round, const Measure& m) {
  const std::string label = fmt::format("r{} {}", round, c.label);
  if (!m.ok) {
    fmt::print("  {:<6} {:<34} FAILED: {}\n", broker, label, m.error);
    return;
  }
  fmt::print(
      "  {:<6} {:<34} {:>9} msgs {:>8.1f} MB {:>7.2f} s {:>8.1f} MB/s {:>9.0f} msg/s  "
      "broker CPU {:>6.2f} s = {:>5.2f} s/GB  dirty {} MB free {} MB\n",
      broker, label, m.messages, m.bytes / 1e6, m.seconds, m.MegabytesPerSecond(),
      m.MessagesPerSecond(), m.cpu_seconds, m.CpuSecondsPerGigabyte(), m.dirty_mb, m.free_mb);
}

std::string Cell(const std::optional<double>& value, bool ran, const char* format) {
  if (!ran) return "-";
  if (!value) return "FAILED";
  return fmt::format(fmt::runtime(format), *value);
}

std::string Ratio(const std::optional<double>& a, const std::optional<double>& b) {
  return a && b && *b > 0 ? fmt::format("{:.2f}", *a / *b) : "-";
}

// "523/400/564": every round's figure, so the spread shows next to the median.
std::string Rounds(const std::vector<Measure>& rounds, double (Measure::*metric)() const,
                   const char* format) {
  std::vector<std::string> parts;
  for (const Measure& m : rounds) {
    parts.push_back(m.ok ? fmt::format(fmt::runtime(format), (m.*metric)()) : "FAILED");
  }
  return fmt::format("{}", fmt::join(parts, "/"));
}

void PrintTable(const std::vector<Case>& cases, int rounds) {
  fmt::print("\n{}\n", rounds > 1 ? fmt::format("medians of {} rounds", rounds) : "one round");
  fmt::print("{:<34} {:>9} {:>9} {:>7} {:>7} | {:>8} {:>8} {:>7} {:>7}\n", "case (1 KiB messages)",
             "runnel", "mock", "ratio", "target", "runnel", "mock", "ratio", "target");
  fmt::print("{:<34} {:>9} {:>9} {:>7} {:>7} | {:>8} {:>8} {:>7} {:>7}\n", "", "MB/s", "MB/s",
             "r/m", "r/m >=", "CPU s/GB", "CPU s/GB", "r/m", "r/m <=");
  for (const Case& c : cases) {
    const std::optional<double> r_rate = Median(c.runnel, &Measure::MegabytesPerSecond);
    const std::optional<double> m_rate = Median(c.mock, &Measure::MegabytesPerSecond);
    const std::optional<double> r_cpu = Median(c.runnel, &Measure::CpuSecondsPerGigabyte);
    const std::optional<double> m_cpu = Median(c.mock, &Measure::CpuSecondsPerGigabyte);
    std::string rate_target = c.rate_target > 0 ? fmt::format("{:.1f}", c.rate_target) : "-";
    std::string cpu_target = c.kind == Kind::kConsumeFull ? "-" : "1.0";
    fmt::print("{:<34} {:>9} {:>9} {:>7} {:>7} | {:>8} {:>8} {:>7} {:>7}\n", c.label,
               Cell(r_rate, !c.runnel.empty(), "{:.1f}"), Cell(m_rate, !c.mock.empty(), "{:.1f}"),
               Ratio(r_rate, m_rate), rate_target, Cell(r_cpu, !c.runnel.empty(), "{:.2f}"),
               Cell(m_cpu, !c.mock.empty(), "{:.2f}"), Ratio(r_cpu, m_cpu), cpu_target);
  }
  if (rounds > 1) {
    fmt::print("\nevery round (MB/s | CPU s/GB)\n");
    for (const Case& c : cases) {
      fmt::print("{:<34} runnel {} | {}", c.label,
                 Rounds(c.runnel, &Measure::MegabytesPerSecond, "{:.0f}"),
                 Rounds(c.runnel, &Measure::CpuSecondsPerGigabyte, "{:.2f}"));
      if (!c.mock.empty()) {
        fmt::print("   mock {} | {}", Rounds(c.mock, &Measure::MegabytesPerSecond, "{:.0f}"),
                   Rounds(c.mock, &Measure::CpuSecondsPerGigabyte, "{:.2f}"));
      }
      fmt::print("\n");
    }
  }
  fmt::print(
      "MB = 10^6 bytes of message values; CPU = the broker process's user+system seconds per "
      "10^9 value bytes.\nacks=all: runnel answers after fdatasync (group commit); the mock "
      "answers from memory.\nconsume (window): the mock keeps only the newest 5 MiB per "
      "partition, so both brokers serve a topic of that size from offset 0 to its end, again and "
      "again.\n");
}

}  // namespace

int RunDriver(const DriverOptions& o) {
  std::vector<Case> cases;
  for (int p : o.partitions) {
    auto add = [&](const std::string& what, Kind kind, const char* what_topic, double target) {
      cases.push_back(Case{fmt::format("{}p {}", p, what), kind, p, what_topic, target, {}, {}});
    };
    add("produce acks=1", Kind::kProduceAcks1, "acks1", 0.8);
    add("produce acks=all", Kind::kProduceAcksAll, "acksall", 0.5);
    add("consume (window)", Kind::kConsumeWindow, "window", 1.0);
    if (o.full_consume && o.run_runnel) {
      add("consume (full acks=1 topic)", Kind::kConsumeFull, "acks1", 0);
    }
  }

  std::string pattern = o.dir + "/runnel-bench-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    fmt::print(stderr, "runnel-bench: cannot make a temp dir under {}\n", o.dir);
    return 1;
  }
  const std::string temp = pattern;
  fmt::print("runnel-bench: {} cores, load average {}, temp dir {}\n",
             ::sysconf(_SC_NPROCESSORS_ONLN), LoadAverage(), temp);
  fmt::print("{}\n", o.settings.Describe());
  fmt::print(
      "{} messages per produce case, consume topic {} messages per partition read until "
      "{} messages came back, {} round(s)\n",
      o.messages, o.window_per_partition, o.consume_messages, o.rounds);

  int status = 0;
  std::string error;
  std::optional<Broker> runnel;
  std::optional<Broker> mock;
  if (o.run_runnel && !(runnel = StartRunnel(o, temp, error))) {
    fmt::print(stderr, "runnel-bench: runnel did not start: {}\n", error);
    status = 1;
  }
  if (status == 0 && o.run_mock && !(mock = StartMock(o, cases, temp, error))) {
    fmt::print(stderr, "runnel-bench: the mock did not start: {}\n", error);
    status = 1;
  }
  if (status == 0) {
    // Case by case, runnel then the mock, so a change in the machine's load hits both alike.
    for (int round = 1; round <= o.rounds; ++round) {
      for (Case& c : cases) {
        if (runnel) {
          c.runnel.push_back(RunCase(o, *runnel, c, round));
          PrintMeasure("runnel", c, round, c.runnel.back());
          if (!c.runnel.back().ok) status = 1;
        }
        if (mock && c.kind != Kind::kConsumeFull) {
          c.mock.push_back(RunCase(o, *mock, c, round));
          PrintMeasure("mock", c, round, c.mock.back());
          if (!c.mock.back().ok) status = 1;
        }
      }
    }
    PrintTable(cases, o.rounds);
  }
  for (std::optional<Broker>* b : {&runnel, &mock}) {
    if (!*b) continue;
    const int pid = (*b)->process->pid();
    std::string how = (*b)->process->Stop(SIGTERM, 30000);
    fmt::print("{} (pid {}) stopped: {}\n", (*b)->name, pid, how);
    if (how != "exit 0") {
      fmt::print(stderr, "{} log:\n{}\n", (*b)->name, LogTail((*b)->log_path));
      status = 1;
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(temp, ec);
  fmt::print("load average {}; {}\n", LoadAverage(),
             status == 0 ? "every message delivered and read back" : "FAILED");
  return status;
}

}  // namespace runnel::bench
