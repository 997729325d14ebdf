// libFuzzer target: arbitrary bytes as record batches, record sections, compressed payloads
// and producer-state snapshots. Every path runs with bounded memory (kDecompressedBytesMax);
// the target asserts the library's own promises: errors are kCorruption/kLimit/kUnsupported,
// decoded output stays within the bound, and iteration never reports more records than the
// header announced.
//
// The input is used three ways, so that the fuzzer gets past the CRC:
//   1. as is: split into batches (CRC checked), each one validated record by record;
//   2. with the first batch's batchLength and CRC fixed up, so mutations reach the record
//      parser and the codecs;
//   3. its record section handed to every decompressor directly;
// and, when it starts with the snapshot magic "RNPS", as a producer snapshot (CRC fixed up).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "engine/compression.h"
#include "engine/crc32c.h"
#include "engine/producer_state.h"
#include "engine/record_batch.h"
#include "engine/varint.h"

namespace {

using namespace runnel;          // NOLINT
using namespace runnel::engine;  // NOLINT

constexpr size_t kDecompressedBytesMax = 1 << 20;
constexpr size_t kBatchCountMax = 64;

void CheckKind(const Status& s) {
  RUNNEL_ASSERT(s.ok() || s.Is(ErrorKind::kCorruption) || s.Is(ErrorKind::kLimit) ||
                    s.Is(ErrorKind::kUnsupported),
                "unexpected error kind: {}", s.ToString());
}

void Exercise(const RecordBatchView& batch, RecordReader& reader) {
  (void)batch.last_sequence();
  (void)ProducerBatchInfo::From(batch);
  Result<RecordIterator> it = reader.Open(batch);
  if (!it.ok()) {
    CheckKind(it.status());
    return;
  }
  Record r;
  int32_t n = 0;
  size_t touched = 0;
  while (it->Next(r)) {
    ++n;
    if (r.key) touched += r.key->size();
    if (r.value) touched += r.value->size();
    RecordHeader h;
    HeaderIterator hi = r.headers();
    while (hi.Next(h)) touched += h.key.size() + (h.value ? h.value->size() : 0);
  }
  CheckKind(it->status());
  RUNNEL_ASSERT(n <= batch.record_count(), "{} records from a batch of {}", n,
                batch.record_count());
  RUNNEL_ASSERT(touched <= kDecompressedBytesMax, "records larger than the bound");
  CheckKind(ValidateForAppend(batch, reader).status());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Bytes input(reinterpret_cast<const std::byte*>(data), size);
  RecordReader reader(kDecompressedBytesMax);

  // 1. As is.
  BatchSplitter splitter(input);
  size_t batches = 0;
  while (std::optional<RecordBatchView> v = splitter.Next()) {
    Exercise(*v, reader);
    if (++batches == kBatchCountMax) break;
  }
  CheckKind(splitter.status());
  std::vector<RecordBatchView> views;
  CheckKind(SplitBatches(input, kBatchCountMax, views));

  // 2. The first batch with its length and CRC made consistent.
  if (size >= batch_format::kHeaderBytes) {
    std::vector<std::byte> fixed(input.begin(), input.end());
    StoreBe32(fixed.data() + batch_format::kBatchLengthOffset,
              static_cast<uint32_t>(size - batch_format::kLogOverheadBytes));
    StoreBe32(fixed.data() + batch_format::kCrcOffset,
              crc32c::Value(fixed.data() + batch_format::kCrcCoverageOffset,
                            size - batch_format::kCrcCoverageOffset));
    Result<MutableRecordBatchView> m = MutableRecordBatchView::Parse(fixed);
    if (m.ok()) {
      Exercise(*m, reader);
      m->SetBaseOffset(Offset(12345));
      m->SetPartitionLeaderEpoch(LeaderEpoch(3));
      RUNNEL_ASSERT(RecordBatchView::Parse(fixed).ok(), "a header rewrite broke the batch");
    } else {
      CheckKind(m.status());
    }

    // 3. The record section through every codec.
    const Bytes section = input.subspan(batch_format::kRecordsOffset);
    Decompressor decompressor;
    std::vector<std::byte> out;
    for (int id = 0; id < kCodecCount; ++id) {
      Status s =
          decompressor.Decompress(static_cast<Codec>(id), section, kDecompressedBytesMax, out);
      CheckKind(s);
      if (s.ok()) RUNNEL_ASSERT(out.size() <= kDecompressedBytesMax, "output beyond the bound");
    }
  }

  // Producer snapshots.
  if (size >= 24 && std::memcmp(data, "RNPS", 4) == 0) {
    std::vector<std::byte> fixed(input.begin(), input.end());
    StoreBe32(fixed.data() + 8, crc32c::Value(fixed.data() + 12, size - 12));
    Result<ProducerStateTable> t = ProducerStateTable::DecodeSnapshot(fixed);
    if (t.ok()) {
      // What decodes re-encodes to the same bytes.
      RUNNEL_ASSERT(t->EncodeSnapshot() == fixed, "snapshot does not round-trip");
    } else {
      CheckKind(t.status());
    }
  }
  return 0;
}
