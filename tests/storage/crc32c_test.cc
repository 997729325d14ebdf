// CRC-32C: published vectors, the folding, SSE4.2 and table implementations against a
// bit-at-a-time oracle on every length 0..1000 at every alignment, and across the three-stream
// and folding block sizes.
#include "engine/crc32c.h"

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "io/rng.h"
#include "tests/storage/storage_test_util.h"

namespace runnel::engine {
namespace {

using testing::ReferenceCrc32c;
using ExtendFn = std::function<uint32_t(uint32_t, const void*, size_t)>;

struct Impl {
  std::string name;
  ExtendFn extend;
};

std::vector<Impl> Implementations() {
  std::vector<Impl> impls = {
      {"portable", crc32c::ExtendPortable},
      {"dispatch", [](uint32_t c, const void* d, size_t n) { return crc32c::Extend(c, d, n); }}};
  if (crc32c::HardwareAvailable()) impls.push_back({"hardware", crc32c::ExtendHardware});
  if (crc32c::FoldAvailable()) impls.push_back({"fold", crc32c::ExtendFold});
  return impls;
}

std::vector<std::byte> RandomBytes(uint64_t seed, size_t n) {
  Rng rng(seed);
  std::vector<std::byte> v(n);
  rng.Fill(v);
  return v;
}

TEST(Crc32c, HardwareIsDetectedWhereTheCpuHasIt) {
  __builtin_cpu_init();
  EXPECT_EQ(crc32c::HardwareAvailable(), __builtin_cpu_supports("sse4.2") != 0);
}

// RFC 3720 (iSCSI) appendix B.4, and the common check value.
TEST(Crc32c, FoldingIsDetectedWhereTheCpuHasIt) {
  __builtin_cpu_init();
  EXPECT_EQ(crc32c::FoldAvailable(),
            __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                __builtin_cpu_supports("vpclmulqdq") && __builtin_cpu_supports("pclmul") &&
                __builtin_cpu_supports("sse4.2"));
}

TEST(Crc32c, PublishedVectors) {
  std::vector<std::byte> zeros(32, std::byte{0});
  std::vector<std::byte> ones(32, std::byte{0xff});
  std::vector<std::byte> up(32);
  std::vector<std::byte> down(32);
  for (int i = 0; i < 32; ++i) {
    up[i] = static_cast<std::byte>(i);
    down[i] = static_cast<std::byte>(31 - i);
  }
  // An iSCSI SCSI Read (10) command PDU.
  const std::vector<std::byte> pdu =
      testing::ToBytes({0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                        0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
                        0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
                        0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00});
  const std::vector<std::byte> check = testing::ToBytes("123456789");
  for (const Impl& impl : Implementations()) {
    SCOPED_TRACE(impl.name);
    EXPECT_EQ(impl.extend(0, zeros.data(), zeros.size()), 0x8A9136AAu);
    EXPECT_EQ(impl.extend(0, ones.data(), ones.size()), 0x62A8AB43u);
    EXPECT_EQ(impl.extend(0, up.data(), up.size()), 0x46DD794Eu);
    EXPECT_EQ(impl.extend(0, down.data(), down.size()), 0x113FDB5Cu);
    EXPECT_EQ(impl.extend(0, pdu.data(), pdu.size()), 0xD9963A56u);
    EXPECT_EQ(impl.extend(0, check.data(), check.size()), 0xE3069283u);
    EXPECT_EQ(impl.extend(0, nullptr, 0), 0u);
  }
}

TEST(Crc32c, ReferenceOracleAgreesWithPublishedVectors) {
  // The oracle the other tests trust must itself be right.
  EXPECT_EQ(ReferenceCrc32c(testing::ToBytes("123456789")), 0xE3069283u);
  EXPECT_EQ(ReferenceCrc32c(std::vector<std::byte>(32, std::byte{0})), 0x8A9136AAu);
}

TEST(Crc32c, EveryLengthAndAlignmentMatchesTheOracle) {
  const std::vector<std::byte> data = RandomBytes(1, 1000 + 8);
  const auto impls = Implementations();
  for (size_t start = 0; start < 8; ++start) {
    for (size_t n = 0; n <= 1000; ++n) {
      const std::span<const std::byte> s(data.data() + start, n);
      const uint32_t want = ReferenceCrc32c(s);
      for (const Impl& impl : impls) {
        ASSERT_EQ(impl.extend(0, s.data(), s.size()), want)
            << impl.name << " start " << start << " length " << n;
      }
    }
  }
}

// The three-stream path switches on at 3 * 256 and 3 * 8192 bytes, folding at 1024 (then 256-
// and 64-byte steps); probe those edges and large buffers, where a wrong shift table or fold
// constant would show.
TEST(Crc32c, LargeBuffersAroundBlockBoundaries) {
  const std::vector<std::byte> data = RandomBytes(2, 300'000);
  const auto impls = Implementations();
  for (size_t base : {size_t{768}, size_t{1024}, size_t{1280}, size_t{1344}, size_t{24576},
                      size_t{49152}, size_t{100'000}, size_t{299'990}}) {
    for (size_t n = base - 9; n <= base + 9 && n <= data.size() - 3; ++n) {
      for (size_t start : {size_t{0}, size_t{3}}) {
        const std::span<const std::byte> s(data.data() + start, n);
        const uint32_t want = ReferenceCrc32c(s);
        for (const Impl& impl : impls) {
          ASSERT_EQ(impl.extend(0, s.data(), s.size()), want)
              << impl.name << " start " << start << " length " << n;
        }
      }
    }
  }
}

// The start-up choice (hardware wherever the CPU has it, see above) against the tables.
TEST(Crc32c, DispatchedEqualsPortableOnRandomData) {
  Rng rng(3);
  for (int i = 0; i < 2000; ++i) {
    const size_t n = rng.Uniform(70'000);
    const std::vector<std::byte> data = RandomBytes(rng.Next(), n + 7);
    const size_t start = rng.Uniform(8);
    const uint32_t seed_crc = static_cast<uint32_t>(rng.Next());
    ASSERT_EQ(crc32c::Extend(seed_crc, data.data() + start, n),
              crc32c::ExtendPortable(seed_crc, data.data() + start, n))
        << "length " << n << " start " << start;
  }
}

TEST(Crc32c, ExtendComposes) {
  const std::vector<std::byte> data = RandomBytes(4, 50'000);
  Rng rng(5);
  for (const Impl& impl : Implementations()) {
    for (int i = 0; i < 200; ++i) {
      const size_t n = rng.Uniform(data.size() + 1);
      const size_t cut = rng.Uniform(n + 1);
      const uint32_t whole = impl.extend(0, data.data(), n);
      const uint32_t split =
          impl.extend(impl.extend(0, data.data(), cut), data.data() + cut, n - cut);
      ASSERT_EQ(whole, split) << impl.name << " n " << n << " cut " << cut;
    }
  }
}

TEST(Crc32c, DetectsEverySingleBitFlip) {
  std::vector<std::byte> data = RandomBytes(6, 512);
  const uint32_t good = crc32c::Value(data);
  for (size_t bit = 0; bit < data.size() * 8; ++bit) {
    data[bit / 8] ^= std::byte{1} << (bit % 8);
    ASSERT_NE(crc32c::Value(data), good) << "bit " << bit;
    data[bit / 8] ^= std::byte{1} << (bit % 8);
  }
}

}  // namespace
}  // namespace runnel::engine
