// Layout of a Kafka RecordBatch (magic 2), the unit the broker receives, stores and serves.
// All integers are big-endian; record fields are zig-zag varints.
//
//   offset size field
//        0    8 baseOffset              rewritten by the broker on append
//        8    4 batchLength             bytes after this field (total = batchLength + 12)
//       12    4 partitionLeaderEpoch    rewritten by the broker on append
//       16    1 magic                   = 2
//       17    4 crc                     CRC-32C of bytes [21, end), unsigned
//       21    2 attributes              see kAttr* below
//       23    4 lastOffsetDelta
//       27    8 baseTimestamp           (the delete horizon when kAttrDeleteHorizon is set)
//       35    8 maxTimestamp
//       43    8 producerId
//       51    2 producerEpoch
//       53    4 baseSequence
//       57    4 recordCount
//       61      records                 compressed as a whole when the codec is not none
//
// A record: length varint (bytes after it), attributes int8, timestampDelta varlong,
// offsetDelta varint, keyLength varint (-1: null) + key, valueLength varint (-1: null) + value,
// headerCount varint, then per header keyLength varint + key (never null), valueLength varint
// (-1: null) + value.
#pragma once

#include <cstddef>
#include <cstdint>

namespace runnel::engine::batch_format {

inline constexpr size_t kBaseOffsetOffset = 0;
inline constexpr size_t kBatchLengthOffset = 8;
inline constexpr size_t kPartitionLeaderEpochOffset = 12;
inline constexpr size_t kMagicOffset = 16;
inline constexpr size_t kCrcOffset = 17;
inline constexpr size_t kAttributesOffset = 21;
inline constexpr size_t kLastOffsetDeltaOffset = 23;
inline constexpr size_t kBaseTimestampOffset = 27;
inline constexpr size_t kMaxTimestampOffset = 35;
inline constexpr size_t kProducerIdOffset = 43;
inline constexpr size_t kProducerEpochOffset = 51;
inline constexpr size_t kBaseSequenceOffset = 53;
inline constexpr size_t kRecordCountOffset = 57;
inline constexpr size_t kRecordsOffset = 61;

// The bytes before batchLength's count starts: baseOffset + batchLength.
inline constexpr size_t kLogOverheadBytes = 12;
// A batch with no records.
inline constexpr size_t kHeaderBytes = kRecordsOffset;
inline constexpr int32_t kBatchLengthMin = static_cast<int32_t>(kHeaderBytes - kLogOverheadBytes);
// The CRC covers attributes to the end of the batch.
inline constexpr size_t kCrcCoverageOffset = kAttributesOffset;

inline constexpr int8_t kMagicV2 = 2;

inline constexpr uint16_t kAttrCompressionMask = 0x07;
inline constexpr uint16_t kAttrTimestampTypeLogAppend = 0x08;
inline constexpr uint16_t kAttrTransactional = 0x10;
inline constexpr uint16_t kAttrControl = 0x20;
inline constexpr uint16_t kAttrDeleteHorizon = 0x40;

// The smallest record: length, attributes, timestampDelta, offsetDelta, null key, null value,
// zero headers, one byte each.
inline constexpr size_t kRecordBytesMin = 7;

}  // namespace runnel::engine::batch_format
