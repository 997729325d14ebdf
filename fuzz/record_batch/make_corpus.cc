// Writes the seed corpus for record_batch_fuzz: small valid batches for every codec (plain,
// idempotent, transactional, with headers and nulls), a control batch, an empty batch, two
// concatenated batches and a producer-state snapshot. Deterministic: same files every run.
//   record_batch_make_corpus DIR
#include <cstdio>
#include <string>
#include <vector>

#include "engine/batch_builder.h"
#include "engine/producer_state.h"

namespace {

using namespace runnel::engine;  // NOLINT

std::vector<std::byte> Bytes(std::string_view s) {
  return std::vector<std::byte>(reinterpret_cast<const std::byte*>(s.data()),
                                reinterpret_cast<const std::byte*>(s.data()) + s.size());
}

bool Write(const std::string& dir, const std::string& name, const std::vector<std::byte>& data) {
  const std::string path = dir + "/" + name;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(data.data(), 1, data.size(), f) == data.size();
  return std::fclose(f) == 0 && ok;
}

std::vector<std::byte> Build(const BatchOptions& o, int records) {
  BatchBuilder b(o);
  const auto k = Bytes("key");
  const auto v = Bytes("value value value value");
  const auto hk = Bytes("trace");
  const auto hv = Bytes("abc");
  const std::vector<RecordHeader> headers = {{hk, hv}, {hk, std::nullopt}};
  for (int i = 0; i < records; ++i) {
    if (i % 3 == 2) {
      b.Append(1'700'000'000'000 + i, std::nullopt, std::nullopt);
    } else {
      b.Append(1'700'000'000'000 + i, k, v,
               i % 2 == 0 ? std::span(headers) : std::span<const RecordHeader>());
    }
  }
  return b.Build().value();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  bool ok = true;
  for (int id = 0; id < kCodecCount; ++id) {
    const Codec codec = static_cast<Codec>(id);
    const std::string name(CodecName(codec));
    BatchOptions o;
    o.codec = codec;
    ok &= Write(dir, name + "_plain.bin", Build(o, 3));
    o.producer_id = ProducerId(1000 + id);
    o.producer_epoch = ProducerEpoch(2);
    o.base_sequence = 40;
    o.base_offset = runnel::engine::Offset(77);
    o.partition_leader_epoch = LeaderEpoch(5);
    ok &= Write(dir, name + "_idempotent.bin", Build(o, 5));
    o.transactional = true;
    ok &= Write(dir, name + "_transactional.bin", Build(o, 2));
  }
  BatchOptions control;
  control.control = true;
  control.producer_id = ProducerId(7);
  control.producer_epoch = ProducerEpoch(0);
  ok &= Write(dir, "control.bin", Build(control, 1));
  ok &= Write(dir, "empty.bin", Build({}, 0));
  auto two = Build({}, 2);
  BatchOptions second;
  second.base_offset = runnel::engine::Offset(2);
  second.codec = Codec::kLz4;
  const auto b = Build(second, 4);
  two.insert(two.end(), b.begin(), b.end());
  ok &= Write(dir, "two_batches.bin", two);

  ProducerStateTable table;
  for (int i = 0; i < 3; ++i) {
    ProducerBatchInfo info;
    info.producer_id = ProducerId(i + 1);
    info.producer_epoch = ProducerEpoch(0);
    info.base_sequence = 0;
    info.last_offset_delta = 1;
    info.transactional = i == 2;
    (void)table.CheckAndRecord(info, runnel::engine::Offset(i * 2));
  }
  ok &= Write(dir, "producer_snapshot.bin", table.EncodeSnapshot());
  if (!ok) {
    std::fprintf(stderr, "could not write the corpus to %s\n", dir.c_str());
    return 1;
  }
  return 0;
}
