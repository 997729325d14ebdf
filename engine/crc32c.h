// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of Kafka RecordBatch v2
// and of the engine's own files. Extend(Value(a), b) == Value(a + b).
//
// The implementation is chosen once at start-up: carry-less folding of 256-byte blocks with
// AVX-512 VPCLMULQDQ (buffers of 1 KiB and more; shorter ones and the tail go to `crc32`) when
// the CPU has it; else SSE4.2 `crc32` over three interleaved streams, combined with
// precomputed shift tables; else slicing-by-8 tables. All give identical results (tested); none
// allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace runnel::engine::crc32c {

// Returns the CRC-32C of the concatenation of the data `crc` was computed over and `data`.
uint32_t Extend(uint32_t crc, const void* data, size_t size_bytes);
inline uint32_t Extend(uint32_t crc, std::span<const std::byte> data) {
  return Extend(crc, data.data(), data.size());
}

// The CRC-32C of `data`.
inline uint32_t Value(const void* data, size_t size_bytes) { return Extend(0, data, size_bytes); }
inline uint32_t Value(std::span<const std::byte> data) { return Extend(0, data); }

// True when Extend runs on the SSE4.2 instruction.
bool HardwareAvailable();

// True when the CPU (and the OS) have AVX-512 with VPCLMULQDQ, and Extend folds with them.
bool FoldAvailable();

// The implementations, for tests and benchmarks. ExtendHardware asserts HardwareAvailable(),
// ExtendFold FoldAvailable().
uint32_t ExtendPortable(uint32_t crc, const void* data, size_t size_bytes);
uint32_t ExtendHardware(uint32_t crc, const void* data, size_t size_bytes);
uint32_t ExtendFold(uint32_t crc, const void* data, size_t size_bytes);

}  // namespace runnel::engine::crc32c
