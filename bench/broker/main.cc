// runnel-bench: runnel next to librdkafka's in-memory mock cluster, driven by the same librdkafka
// load client (bench/broker/README.md). Measures and prints; exits non-zero only when a message
// was not delivered or not read back intact, never on a time.
//
//   runnel-bench [driver options]            both brokers side by side, the table at the end
//   runnel-bench load --bootstrap HOST:PORT  the load against any broker (no CPU figures)
//   runnel-bench mock --topic NAME:PARTS...  serve a mock cluster (used by the driver)
#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench/broker/driver.h"
#include "bench/broker/kafka_load.h"
#include "bench/broker/mock_cluster.h"

namespace runnel::bench {
namespace {

constexpr std::string_view kUsage = R"(usage:
  runnel-bench [options]                     runnel and the mock side by side
  runnel-bench load --bootstrap HOST:PORT [--partitions N] [--messages N] [--topic NAME]
                    [--no-create] [--acks 1|all] [--no-consume]
                                             produce acks=1 to NAME-acks1 and acks=all to
                                             NAME-acksall, consume NAME-acks1, on one broker
                                             (--acks: that case only; --no-consume: no read)
  runnel-bench mock [--topic NAME:PARTITIONS]...
                                             librdkafka's mock cluster; prints its address
options:
  --runnel PATH            the broker binary (default: runnel beside runnel-bench)
  --runnel-arg ARG         one more runnel flag, e.g. --runnel-arg --log.drop.behind.bytes=67108864
                           (repeatable; printed with runnel's command line)
  --dir DIR                temp dirs and runnel's data go under DIR (default /var/tmp)
  --smp N                  runnel shards (default: online cores)
  --partitions LIST        partition counts, comma-separated (default 1,8)
  --messages N             messages per produce case (default 1000000: 1.02 GB of values)
  --window N               consume topic messages per partition (default 4000, under the
                           mock's 5 MiB retention)
  --consume-messages N     messages read back per consume case (default 1000000)
  --rounds N               run every case N times (fresh topics each round; runnel keeps
                           every round's data until the end) and print medians (default 1)
  --no-full-consume        skip runnel's single pass over the acks=1 topic
  --only runnel|mock       one broker only
  --quick                  tiny sizes for a smoke test: 5000 / 1000 / 10000
  --linger-ms N --batch-bytes N --fetch-wait-ms N --message-bytes N   client settings
)";

[[noreturn]] void Usage(const std::string& problem) {
  if (!problem.empty()) fmt::print(stderr, "runnel-bench: {}\n", problem);
  fmt::print(stderr, "{}", kUsage);
  std::exit(2);
}

uint64_t Number(const std::string& flag, const char* text) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || text[0] == '-') {
    Usage(fmt::format("{} needs a non-negative integer, not '{}'", flag, text));
  }
  return v;
}

std::vector<int> PartitionList(const char* text) {
  std::vector<int> out;
  std::string s(text);
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    std::string item =
        s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    uint64_t p = Number("--partitions", item.c_str());
    if (p < 1 || p > 1024) Usage("--partitions: each count must be 1..1024");
    out.push_back(static_cast<int>(p));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string SelfPath() {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : p.string();
}

// Client settings shared by the driver and `load`; returns true when `flag` was one of them.
bool ClientFlag(const std::string& flag, const char* value, LoadSettings& s) {
  if (flag == "--linger-ms") {
    s.linger_ms = static_cast<int>(Number(flag, value));
  } else if (flag == "--batch-bytes") {
    s.batch_bytes = static_cast<uint32_t>(Number(flag, value));
  } else if (flag == "--fetch-wait-ms") {
    s.fetch_wait_ms = static_cast<int>(Number(flag, value));
  } else if (flag == "--message-bytes") {
    s.message_bytes = static_cast<uint32_t>(Number(flag, value));
    if (s.message_bytes < 8) Usage("--message-bytes must be at least 8 (the sequence number)");
  } else {
    return false;
  }
  return true;
}

int MockMain(int argc, char** argv) {
  std::vector<std::pair<std::string, int>> topics;
  for (int i = 2; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag != "--topic" || i + 1 >= argc) Usage("mock takes --topic NAME:PARTITIONS");
    std::string spec = argv[++i];
    size_t colon = spec.rfind(':');
    if (colon == std::string::npos || colon == 0) Usage("--topic needs NAME:PARTITIONS");
    uint64_t p = Number("--topic", spec.c_str() + colon + 1);
    if (p < 1 || p > 1024) Usage("--topic: partitions must be 1..1024");
    topics.emplace_back(spec.substr(0, colon), static_cast<int>(p));
  }
  return RunMockCluster(topics);
}

int LoadMain(int argc, char** argv) {
  LoadSettings s;
  int partitions = 1;
  uint64_t messages = 100000;
  bool create = true;
  bool consume = true;
  std::vector<int> acks_cases = {1, -1};
  std::string base;
  for (int i = 2; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--no-create") {
      create = false;
      continue;
    }
    if (flag == "--no-consume") {
      consume = false;
      continue;
    }
    if (i + 1 >= argc) Usage(flag + " needs a value");
    const char* value = argv[++i];
    if (flag == "--bootstrap") {
      s.bootstrap = value;
    } else if (flag == "--partitions") {
      partitions = static_cast<int>(Number(flag, value));
      if (partitions < 1 || partitions > 1024) Usage("--partitions must be 1..1024");
    } else if (flag == "--messages") {
      messages = Number(flag, value);
    } else if (flag == "--topic") {
      base = value;
    } else if (flag == "--acks") {
      const std::string acks = value;
      if (acks != "1" && acks != "all") Usage("--acks must be 1 or all");
      acks_cases = {acks == "1" ? 1 : -1};
    } else if (!ClientFlag(flag, value, s)) {
      Usage("unknown option " + flag);
    }
  }
  if (s.bootstrap.empty()) Usage("load needs --bootstrap HOST:PORT");
  if (messages == 0) Usage("--messages must be at least 1");
  if (base.empty()) base = fmt::format("runnel-bench-load-{}-p{}", ::getpid(), partitions);
  fmt::print("{}\n", s.Describe());
  int status = 0;
  for (int acks : acks_cases) {
    const std::string topic = base + (acks == 1 ? "-acks1" : "-acksall");
    std::string error;
    if (!CreateTopic(s, topic, partitions, create, error)) {
      fmt::print(stderr, "runnel-bench load: {}\n", error);
      return 1;
    }
    ProduceOutcome p = Produce(s, topic, partitions, acks, messages, [] {});
    fmt::print("produce acks={:<3} {} msgs {:.1f} MB in {:.2f} s: {:.1f} MB/s {:.0f} msg/s{}\n",
               acks == 1 ? "1" : "all", p.acked, p.bytes / 1e6, p.seconds,
               p.seconds > 0 ? p.bytes / p.seconds / 1e6 : 0,
               p.seconds > 0 ? p.acked / p.seconds : 0, p.ok ? "" : " FAILED: " + p.error);
    if (!p.ok) status = 1;
    if (acks != 1 || !p.ok || !consume) continue;
    ConsumeOutcome c = Consume(s, topic, partitions, messages, 1, [] {});
    fmt::print("consume from offset 0: {} msgs {:.1f} MB in {:.2f} s: {:.1f} MB/s{}\n", c.messages,
               c.bytes / 1e6, c.seconds, c.seconds > 0 ? c.bytes / c.seconds / 1e6 : 0,
               c.ok ? "" : " FAILED: " + c.error);
    if (!c.ok) status = 1;
  }
  return status;
}

int DriverMain(int argc, char** argv) {
  DriverOptions o;
  o.self = SelfPath();
  o.runnel = (std::filesystem::path(o.self).parent_path() / "runnel").string();
  o.dir = "/var/tmp";
  o.smp = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  bool quick = false;
  bool sizes_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") Usage("");
    if (flag == "--quick") {
      quick = true;
      continue;
    }
    if (flag == "--no-full-consume") {
      o.full_consume = false;
      continue;
    }
    if (i + 1 >= argc) Usage(flag + " needs a value");
    const char* value = argv[++i];
    if (flag == "--runnel") {
      o.runnel = value;
    } else if (flag == "--dir") {
      o.dir = value;
    } else if (flag == "--smp") {
      o.smp = static_cast<int>(Number(flag, value));
      if (o.smp < 1) Usage("--smp must be at least 1");
    } else if (flag == "--partitions") {
      o.partitions = PartitionList(value);
    } else if (flag == "--messages") {
      o.messages = Number(flag, value);
      sizes_given = true;
    } else if (flag == "--window") {
      o.window_per_partition = Number(flag, value);
      sizes_given = true;
    } else if (flag == "--consume-messages") {
      o.consume_messages = Number(flag, value);
      sizes_given = true;
    } else if (flag == "--runnel-arg") {
      o.runnel_args.push_back(value);
    } else if (flag == "--rounds") {
      const uint64_t rounds = Number(flag, value);
      if (rounds < 1 || rounds > 20) Usage("--rounds must be 1..20");
      o.rounds = static_cast<int>(rounds);
    } else if (flag == "--only") {
      std::string which = value;
      if (which != "runnel" && which != "mock") Usage("--only takes runnel or mock");
      o.run_runnel = which == "runnel";
      o.run_mock = which == "mock";
    } else if (!ClientFlag(flag, value, o.settings)) {
      Usage("unknown option " + flag);
    }
  }
  if (quick && sizes_given) Usage("--quick sets the sizes; give either --quick or sizes");
  if (quick) {
    o.messages = 5000;
    o.window_per_partition = 1000;
    o.consume_messages = 10000;
  }
  if (o.messages == 0 || o.window_per_partition == 0 || o.consume_messages == 0) {
    Usage("sizes must be at least 1");
  }
  if (o.self.empty()) Usage("cannot find this binary's path (/proc/self/exe)");
  if (o.run_runnel && ::access(o.runnel.c_str(), X_OK) != 0) {
    Usage(fmt::format("no runnel binary at {} (give --runnel PATH)", o.runnel));
  }
  return RunDriver(o);
}

}  // namespace
}  // namespace runnel::bench

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "mock") == 0) return runnel::bench::MockMain(argc, argv);
  if (argc >= 2 && std::strcmp(argv[1], "load") == 0) return runnel::bench::LoadMain(argc, argv);
  return runnel::bench::DriverMain(argc, argv);
}
