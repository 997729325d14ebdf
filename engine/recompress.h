// Codec conversion of record batches: what the broker does on produce when a topic's
// compression.type names a codec (or "uncompressed") that differs from the batch's. Kafka's
// LogValidator does the same.
//
// The record section of a batch is codec-independent once decompressed, so a conversion
// decompresses it (bounded by decompressed_bytes_max), checks every record (RecordIterator's
// rules), compresses the same bytes with the new codec and writes a new header: the same
// baseOffset, partitionLeaderEpoch, lastOffsetDelta, timestamps, producer id/epoch, base
// sequence, record count and attribute bits other than the codec (timestamp type,
// transactional, control, delete horizon), a new batchLength and a fresh CRC-32C. The records
// themselves — keys, values, headers, timestamp and offset deltas, even the unused record
// attribute byte — are byte for byte the producer's.
//
// The cost: a converted batch is no longer the client's bytes, so the produce path copies,
// decompresses and compresses it (CPU on the shard that runs the conversion) instead of
// storing the request buffer as it came. Batches already in the target codec are not touched.
//
// Pure computation, no I/O. A BatchRecompressor is owned by one shard (not thread-safe) and
// reuses its codec contexts and buffers from call to call.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "engine/compression.h"
#include "engine/record_batch.h"
#include "io/status.h"

namespace runnel::engine {

class BatchRecompressor {
 public:
  explicit BatchRecompressor(size_t decompressed_bytes_max, CompressOptions compress = {})
      : decompressed_bytes_max_(decompressed_bytes_max), compress_(compress) {}

  // Appends `batch` rewritten with `codec` to `out` (also when it already uses `codec`: then
  // the record section is still decoded, checked and re-encoded). Errors leave `out` as it was:
  // kCorruption when the records do not decompress or fail validation, kLimit when they
  // decompress to more than decompressed_bytes_max or the new batch would exceed the int32
  // batchLength.
  Status Recompress(const RecordBatchView& batch, Codec codec, std::vector<std::byte>& out);

  size_t decompressed_bytes_max() const { return decompressed_bytes_max_; }

 private:
  size_t decompressed_bytes_max_;
  CompressOptions compress_;
  Decompressor decompressor_;
  std::vector<std::byte> plain_;
};

// The limits RecompressBatches enforces on its input.
struct RecompressLimits {
  // Batches in the buffer (LogLimits::append_batches_max).
  size_t batch_count_max = 4096;
  // The largest batch, as it came and as converted (the topic's max.message.bytes; Kafka checks
  // both). Checking the converted one here, not only in the log, bounds what a conversion holds.
  size_t batch_bytes_max = 1048588;
  // The largest output in all (the topic's segment.bytes, the most the log accepts in one
  // append).
  size_t output_bytes_max = size_t{1} << 30;
};

// Converts a produce request's records for one partition (whole batches back to back) so that
// every batch uses `codec`. Returns false and leaves `out` empty when every batch already does
// (the caller keeps the original buffer: no copy). Otherwise `out` holds every batch, the
// converted ones rewritten and the others copied, in order. Errors: kCorruption for framing,
// CRC, decompression or record errors (a partial trailing batch included); kLimit for more
// than batch_count_max batches, a batch over batch_bytes_max (as it came or converted), an
// output over output_bytes_max, or the bounds of Recompress. On error `out` is empty: nothing of
// the request may be stored.
Result<bool> RecompressBatches(std::span<const std::byte> records, Codec codec,
                               const RecompressLimits& limits, BatchRecompressor& recompressor,
                               std::vector<std::byte>& out);

}  // namespace runnel::engine
