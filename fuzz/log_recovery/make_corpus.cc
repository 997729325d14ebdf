// Writes the seed corpus of log_recovery_fuzz: real partition directories, built by the log on a
// simulated disk and encoded in the fuzz input format (log_recovery_fuzz.h).
//   cmake --build <dir> --target log_recovery_make_corpus &&
//   <dir>/bin/log_recovery_make_corpus fuzz/log_recovery/corpus
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "engine/batch_builder.h"
#include "engine/log.h"
#include "engine/segment_format.h"
#include "fuzz/log_recovery/log_recovery_fuzz.h"
#include "sim/node.h"
#include "sim/world.h"

namespace {

using namespace runnel;          // NOLINT
using namespace runnel::engine;  // NOLINT
namespace sf = segment_format;

constexpr char kDir[] = "/corpus/p0";

struct Scenario {
  const char* name;
  int batches;
  bool idempotent;
  Codec codec;
  bool close;      // clean shutdown
  bool compact;    // run a cleaner pass first
  int tear_bytes;  // cut this many bytes off the last segment
  bool fix;        // mark files for checksum fix-ups
};

std::vector<std::byte> Batch(int i, bool idempotent, Codec codec) {
  BatchOptions o;
  o.codec = codec;
  if (idempotent) {
    o.producer_id = ProducerId(9);
    o.producer_epoch = ProducerEpoch(1);
    o.base_sequence = i * 2;
  }
  BatchBuilder b(o);
  for (int r = 0; r < 2; ++r) {
    const std::string k = "key" + std::to_string((i * 2 + r) % 7);
    char v[16];
    std::snprintf(v, sizeof v, "value%04d", i * 2 + r);
    b.Append(1'650'000'000'000 + i * 10 + r,
             Bytes(reinterpret_cast<const std::byte*>(k.data()), k.size()),
             Bytes(reinterpret_cast<const std::byte*>(v), std::strlen(v)));
  }
  return b.Build().value();
}

// Maps a file name of the directory to a selector (nullopt: not representable).
std::optional<uint8_t> SelectorFor(const std::string& name, bool fix) {
  const sf::ParsedName p = sf::ParseFileName(name);
  int base_index = -1;
  for (int i = 0; i < 8; ++i) {
    if (fuzz::kBases[i] == p.offset.value()) base_index = i;
  }
  const uint8_t f = fix ? fuzz::kFixChecksums : 0;
  switch (p.kind) {
    case sf::FileKind::kMeta:
      return fuzz::Selector(fuzz::kMeta, 0, f);
    case sf::FileKind::kLog:
      if (base_index < 0) return std::nullopt;
      return fuzz::Selector(fuzz::kLog, base_index, f);
    case sf::FileKind::kIndex:
      if (base_index < 0) return std::nullopt;
      return fuzz::Selector(fuzz::kIndex, base_index);
    case sf::FileKind::kTimeIndex:
      if (base_index < 0) return std::nullopt;
      return fuzz::Selector(fuzz::kTimeIndex, base_index);
    case sf::FileKind::kSnapshot:
      if (base_index < 0) return std::nullopt;
      return fuzz::Selector(fuzz::kSnapshot, base_index, f);
    default:
      return std::nullopt;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
    return 2;
  }
  // Segments of five 2-record batches: bases 0, 10, 20, 30, 40, which the format can name
  // (kBases); segments it cannot name are left out (recovery then sees a gap).
  const Scenario scenarios[] = {
      {"clean", 12, false, Codec::kNone, true, false, 0, false},
      {"clean_fixed", 12, false, Codec::kNone, true, false, 0, true},
      {"unclean", 12, true, Codec::kNone, false, false, 0, true},
      {"torn", 12, false, Codec::kNone, false, false, 37, true},
      {"idempotent_clean", 9, true, Codec::kNone, true, false, 0, true},
      {"lz4", 8, false, Codec::kLz4, true, false, 0, true},
      {"compacted", 16, false, Codec::kNone, true, true, 0, true},
      {"one_batch", 1, false, Codec::kNone, false, false, 0, true},
  };
  std::filesystem::create_directories(argv[1]);
  for (const Scenario& s : scenarios) {
    sim::SimWorld world(7);
    const sim::NodeId node = world.AddNode();
    RUNNEL_ASSERT(world.disk(node).MakeDirsNow("/corpus").ok(), "mkdir");
    std::vector<DirEntry> entries;
    world.RunTask(
        node, 0, [](Io& io, const Scenario& s, std::vector<DirEntry>& entries) -> Task<void> {
          LogConfig c;
          c.segment_bytes = Batch(0, s.idempotent, s.codec).size() * 11 / 2;
          c.index_interval_bytes = 64;
          if (s.compact) c.cleanup_policy = CleanupPolicy::kCompact;
          auto log = co_await Log::Open(io, kDir, c);
          RUNNEL_ASSERT(log.ok(), "{}", log.status().ToString());
          for (int i = 0; i < s.batches; ++i) {
            std::vector<std::byte> b = Batch(i, s.idempotent, s.codec);
            auto r = co_await (*log)->Append(b, AppendOptions{.leader_epoch = LeaderEpoch(1)});
            RUNNEL_ASSERT(r.ok() && r->appended(), "append");
          }
          (*log)->SetHighWatermark((*log)->log_end_offset());
          RUNNEL_ASSERT((co_await (*log)->Flush()).ok(), "flush");
          if (s.compact) RUNNEL_ASSERT((co_await (*log)->Compact()).ok(), "compact");
          if (s.close) RUNNEL_ASSERT((co_await (*log)->Close()).ok(), "close");
          auto listed = co_await io.fs().List(kDir);
          if (listed.ok()) entries = *listed;
        }(world.node(node).io(0), s, entries));
    std::vector<uint8_t> input;
    std::string last_log;
    for (const DirEntry& e : entries) {
      if (sf::ParseFileName(e.name).kind == sf::FileKind::kLog) last_log = e.name;
    }
    for (const DirEntry& e : entries) {
      auto selector = SelectorFor(e.name, s.fix);
      if (!selector.has_value()) continue;
      auto bytes = world.disk(node).ReadNow(std::string(kDir) + "/" + e.name);
      RUNNEL_ASSERT(bytes.ok(), "{}", e.name);
      if (e.name == last_log && s.tear_bytes > 0 &&
          bytes->size() > static_cast<size_t>(s.tear_bytes)) {
        bytes->resize(bytes->size() - s.tear_bytes);
      }
      fuzz::AppendFile(input, *selector, *bytes);
    }
    std::ofstream out(std::filesystem::path(argv[1]) / s.name, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(input.data()),
              static_cast<std::streamsize>(input.size()));
    std::printf("%s: %zu bytes\n", s.name, input.size());
  }
  return 0;
}
