// runnel-log-bench: single-core throughput of the storage engine's byte paths. Measures and
// prints (Google Benchmark); never passes or fails on a time.
//   CRC-32C (SSE4.2 three-stream and slicing-by-8 tables) at several buffer sizes;
//   batch Parse (framing + CRC) and full record validation, per codec;
//   compression and decompression of a record section, per codec;
//   codec conversion of a batch (compression.type on produce), per codec pair.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "engine/batch_builder.h"
#include "engine/compression.h"
#include "engine/crc32c.h"
#include "engine/recompress.h"
#include "engine/record_batch.h"
#include "io/rng.h"

namespace runnel::engine {
namespace {

std::vector<std::byte> RandomBytes(size_t n) {
  Rng rng(42);
  std::vector<std::byte> v(n);
  rng.Fill(v);
  return v;
}

// CRC-32C over a buffer of state.range(0) random bytes with `extend`; skipped (with `why`) when
// the CPU lacks what it needs.
void Crc32c(benchmark::State& state, uint32_t (*extend)(uint32_t, const void*, size_t),
            bool available, const char* why) {
  const size_t n = static_cast<size_t>(state.range(0));
  const auto data = RandomBytes(n);
  if (!available) {
    state.SkipWithError(why);
    return;
  }
  uint32_t crc = 0;
  for (auto _ : state) {
    crc = extend(crc, data.data(), n);
    benchmark::DoNotOptimize(crc);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
}

void BM_Crc32cHardware(benchmark::State& state) {
  Crc32c(state, crc32c::ExtendHardware, crc32c::HardwareAvailable(), "no SSE4.2");
}
void BM_Crc32cFold(benchmark::State& state) {
  Crc32c(state, crc32c::ExtendFold, crc32c::FoldAvailable(), "no AVX-512 VPCLMULQDQ");
}
void BM_Crc32cPortable(benchmark::State& state) { Crc32c(state, crc32c::ExtendPortable, true, ""); }
BENCHMARK(BM_Crc32cHardware)->Arg(64)->Arg(1 << 10)->Arg(16 << 10)->Arg(256 << 10)->Arg(4 << 20);
BENCHMARK(BM_Crc32cFold)->Arg(64)->Arg(1 << 10)->Arg(16 << 10)->Arg(256 << 10)->Arg(4 << 20);
BENCHMARK(BM_Crc32cPortable)->Arg(64)->Arg(1 << 10)->Arg(16 << 10)->Arg(256 << 10)->Arg(4 << 20);

// Records that look like application events: a short key and a JSON-ish value of ~200 bytes.
std::vector<std::byte> EventBatch(Codec codec, int records) {
  Rng rng(7);
  BatchOptions o;
  o.codec = codec;
  o.producer_id = ProducerId(1);
  o.producer_epoch = ProducerEpoch(0);
  o.base_sequence = 0;
  BatchBuilder b(o);
  std::string key;
  std::string value;
  for (int i = 0; i < records; ++i) {
    key = "user-" + std::to_string(rng.Uniform(100000));
    value = R"js({"event":"page_view","user":")js" + key + R"js(","ts":)js" +
            std::to_string(1'700'000'000'000 + i) + R"js(,"path":"/product/)js" +
            std::to_string(rng.Uniform(5000)) +
            R"js(","referrer":"https://example.com/search?q=)js" + std::to_string(rng.Next()) +
            R"js(","session":")js" + std::to_string(rng.Next()) +
            R"js(","agent":"Mozilla/5.0 (X11; Linux x86_64)"})js";
    b.Append(1'700'000'000'000 + i,
             Bytes(reinterpret_cast<const std::byte*>(key.data()), key.size()),
             Bytes(reinterpret_cast<const std::byte*>(value.data()), value.size()));
  }
  return b.Build().value();
}

constexpr int kRecordsPerBatch = 500;  // ~120 KiB uncompressed, a typical linger-filled batch

void BM_BatchParse(benchmark::State& state) {
  const Codec codec = static_cast<Codec>(state.range(0));
  const auto batch = EventBatch(codec, kRecordsPerBatch);
  for (auto _ : state) {
    Result<RecordBatchView> v = RecordBatchView::Parse(batch);
    benchmark::DoNotOptimize(v.ok());
  }
  state.SetLabel(std::string(CodecName(codec)) + ", stored bytes");
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(batch.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_BatchParse)->DenseRange(0, kCodecCount - 1);

void BM_BatchValidateRecords(benchmark::State& state) {
  const Codec codec = static_cast<Codec>(state.range(0));
  const auto batch = EventBatch(codec, kRecordsPerBatch);
  RecordReader reader(64 << 20);
  const RecordBatchView view = RecordBatchView::Parse(batch).value();
  size_t uncompressed = 0;
  for (auto _ : state) {
    Result<RecordsSummary> s = ValidateRecords(view, reader);
    uncompressed = s->uncompressed_bytes;
    benchmark::DoNotOptimize(s.ok());
  }
  state.SetLabel(std::string(CodecName(codec)) + ", uncompressed bytes");
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(uncompressed));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kRecordsPerBatch);
}
BENCHMARK(BM_BatchValidateRecords)->DenseRange(0, kCodecCount - 1);

std::vector<std::byte> RecordSection() {
  const auto batch = EventBatch(Codec::kNone, kRecordsPerBatch);
  return std::vector<std::byte>(batch.begin() + batch_format::kRecordsOffset, batch.end());
}

void BM_Compress(benchmark::State& state) {
  const Codec codec = static_cast<Codec>(state.range(0));
  const auto section = RecordSection();
  std::vector<std::byte> out;
  for (auto _ : state) {
    out.clear();
    Status s = Compress(codec, section, out);
    benchmark::DoNotOptimize(s.ok());
  }
  state.SetLabel(std::string(CodecName(codec)) + ", ratio " +
                 std::to_string(static_cast<double>(section.size()) / out.size()).substr(0, 4));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(section.size()));
}
BENCHMARK(BM_Compress)->DenseRange(1, kCodecCount - 1);

void BM_Decompress(benchmark::State& state) {
  const Codec codec = static_cast<Codec>(state.range(0));
  const auto section = RecordSection();
  std::vector<std::byte> packed;
  (void)Compress(codec, section, packed);
  Decompressor d;
  std::vector<std::byte> out;
  for (auto _ : state) {
    Status s = d.Decompress(codec, packed, section.size(), out);
    benchmark::DoNotOptimize(s.ok());
  }
  state.SetLabel(std::string(CodecName(codec)) + ", uncompressed bytes");
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(section.size()));
}
BENCHMARK(BM_Decompress)->DenseRange(1, kCodecCount - 1);

// compression.type conversion on produce: a batch in codec `from` rewritten in codec `to`
// (decompress, check every record, compress, new header). from == to is the path a batch
// already in the topic's codec takes: split and compare, no copy.
void BM_Recompress(benchmark::State& state) {
  const Codec from = static_cast<Codec>(state.range(0));
  const Codec to = static_cast<Codec>(state.range(1));
  const auto batch = EventBatch(from, kRecordsPerBatch);
  const size_t plain_bytes = RecordSection().size();
  BatchRecompressor recompressor(64 << 20);
  std::vector<std::byte> out;
  for (auto _ : state) {
    Result<bool> converted = RecompressBatches(batch, to, {}, recompressor, out);
    benchmark::DoNotOptimize(converted.ok());
  }
  state.SetLabel(std::string(CodecName(from)) + " -> " + std::string(CodecName(to)) +
                 ", uncompressed bytes");
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(plain_bytes));
}
BENCHMARK(BM_Recompress)->ArgsProduct({{0, 1, 2, 3, 4}, {0, 1, 4}})->ArgPair(0, 2)->ArgPair(0, 3);

}  // namespace
}  // namespace runnel::engine

BENCHMARK_MAIN();
