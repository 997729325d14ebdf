// Helpers shared by the storage tests: an independent bit-at-a-time CRC-32C, hand assembly of
// batch bytes (so tests do not depend on BatchBuilder to produce what they check), random
// records, and a fixed rapidcheck seed.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/record_batch.h"
#include "io/rng.h"

namespace runnel::engine::testing {

// Rapidcheck draws its seed from the OS unless RC_PARAMS sets one; fix it so every run of the
// suite is the same (override with RC_PARAMS="seed=N" to explore). A test binary may set its own
// default by defining RUNNEL_RAPIDCHECK_PARAMS.
#ifndef RUNNEL_RAPIDCHECK_PARAMS
#define RUNNEL_RAPIDCHECK_PARAMS "seed=20240611 max_success=200"
#endif
inline const bool kRapidcheckSeeded = [] {
  setenv("RC_PARAMS", RUNNEL_RAPIDCHECK_PARAMS, /*overwrite=*/0);
  return true;
}();

inline std::vector<std::byte> ToBytes(std::string_view s) {
  std::vector<std::byte> v(s.size());
  for (size_t i = 0; i < s.size(); ++i) v[i] = static_cast<std::byte>(s[i]);
  return v;
}
inline std::vector<std::byte> ToBytes(std::initializer_list<int> values) {
  std::vector<std::byte> v;
  for (int x : values) v.push_back(static_cast<std::byte>(x));
  return v;
}
inline std::string ToString(Bytes b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

// CRC-32C one bit at a time, straight from the definition (reflected 0x82F63B78, init and
// final xor 0xFFFFFFFF): the oracle for the fast implementations.
inline uint32_t ReferenceCrc32c(std::span<const std::byte> data) {
  uint32_t r = 0xFFFFFFFFu;
  for (std::byte b : data) {
    r ^= static_cast<uint8_t>(b);
    for (int i = 0; i < 8; ++i) r = (r >> 1) ^ ((r & 1) ? 0x82F63B78u : 0);
  }
  return ~r;
}

// Appends big-endian integers.
inline void PutBe(std::vector<std::byte>& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<std::byte>(v >> (8 * i)));
}

// The header fields of a hand-assembled batch.
struct RawHeader {
  int64_t base_offset = 0;
  int32_t partition_leader_epoch = 0;
  int8_t magic = 2;
  uint16_t attributes = 0;
  int32_t last_offset_delta = 0;
  int64_t base_timestamp = 0;
  int64_t max_timestamp = 0;
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
  int32_t base_sequence = -1;
  int32_t record_count = 0;
  // Written as the CRC when set; else the correct CRC (by ReferenceCrc32c).
  std::optional<uint32_t> crc;
  // Written as batchLength when set; else the correct one.
  std::optional<int32_t> batch_length;
};

// Assembles a batch byte by byte from `h` and a record section.
inline std::vector<std::byte> AssembleBatch(const RawHeader& h, Bytes records) {
  std::vector<std::byte> out;
  PutBe(out, h.base_offset, 8);
  PutBe(out,
        static_cast<uint32_t>(h.batch_length.value_or(static_cast<int32_t>(49 + records.size()))),
        4);
  PutBe(out, static_cast<uint32_t>(h.partition_leader_epoch), 4);
  out.push_back(static_cast<std::byte>(h.magic));
  PutBe(out, 0, 4);  // CRC, below
  PutBe(out, h.attributes, 2);
  PutBe(out, static_cast<uint32_t>(h.last_offset_delta), 4);
  PutBe(out, h.base_timestamp, 8);
  PutBe(out, h.max_timestamp, 8);
  PutBe(out, h.producer_id, 8);
  PutBe(out, static_cast<uint16_t>(h.producer_epoch), 2);
  PutBe(out, static_cast<uint32_t>(h.base_sequence), 4);
  PutBe(out, static_cast<uint32_t>(h.record_count), 4);
  out.insert(out.end(), records.begin(), records.end());
  const uint32_t crc = h.crc.value_or(ReferenceCrc32c(std::span(out).subspan(21)));
  for (int i = 0; i < 4; ++i) out[17 + i] = static_cast<std::byte>(crc >> (8 * (3 - i)));
  return out;
}

// Zig-zag varint, written independently of engine/varint.h.
inline void PutZigZag(std::vector<std::byte>& out, int64_t v) {
  uint64_t u = (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
  do {
    uint8_t b = u & 0x7f;
    u >>= 7;
    if (u != 0) b |= 0x80;
    out.push_back(static_cast<std::byte>(b));
  } while (u != 0);
}

// A record as tests generate and compare it (owning).
struct TestHeader {
  std::string key;
  std::optional<std::string> value;
  bool operator==(const TestHeader&) const = default;
};
struct TestRecord {
  int64_t timestamp_ms = 0;
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<TestHeader> headers;
  bool operator==(const TestRecord&) const = default;
};

inline NullableBytes AsNullable(const std::optional<std::string>& s) {
  if (!s.has_value()) return std::nullopt;
  return Bytes(reinterpret_cast<const std::byte*>(s->data()), s->size());
}
inline std::optional<std::string> FromNullable(const NullableBytes& b) {
  if (!b.has_value()) return std::nullopt;
  return ToString(*b);
}

// Reads a record back into a TestRecord.
inline TestRecord ToTestRecord(const Record& r) {
  TestRecord t;
  t.timestamp_ms = r.timestamp_ms;
  t.key = FromNullable(r.key);
  t.value = FromNullable(r.value);
  RecordHeader h;
  HeaderIterator it = r.headers();
  while (it.Next(h)) t.headers.push_back({ToString(h.key), FromNullable(h.value)});
  return t;
}

// Random records from a seeded Rng: nullable keys/values of varied sizes, a few headers.
inline std::vector<TestRecord> RandomRecords(Rng& rng, int count, size_t value_bytes_max) {
  auto random_string = [&](size_t max) {
    std::string s(rng.Uniform(max + 1), '\0');
    // Compressible half the time.
    const bool repetitive = rng.Chance(0.5);
    for (char& c : s) c = static_cast<char>(repetitive ? 'a' + rng.Uniform(4) : rng.Uniform(256));
    return s;
  };
  std::vector<TestRecord> records;
  const int64_t base = rng.Range(0, int64_t{1} << 42);
  for (int i = 0; i < count; ++i) {
    TestRecord r;
    r.timestamp_ms = base + rng.Range(-1000, 100000);
    if (!rng.Chance(0.2)) r.key = random_string(16);
    if (!rng.Chance(0.1)) r.value = random_string(value_bytes_max);
    const int headers = static_cast<int>(rng.Uniform(3));
    for (int h = 0; h < headers; ++h) {
      TestHeader th{random_string(8), std::nullopt};
      if (rng.Chance(0.7)) th.value = random_string(8);
      r.headers.push_back(th);
    }
    records.push_back(std::move(r));
  }
  return records;
}

}  // namespace runnel::engine::testing
