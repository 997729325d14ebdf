// Property: for every generated message (88 requests, 88 responses, the two headers and the
// data records) and every valid version, a value drawn from what that version can carry
// survives Encode -> Decode unchanged, Size() equals the bytes written, and re-encoding the
// decoded value gives the same bytes (unknown tagged fields included).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <string_view>

#include "broker/protocol/api_keys.h"
#include "broker/protocol/gen/arbitrary.h"
#include "broker/protocol/gen/visit.h"

namespace runnel::protocol {
namespace {

// What the generated values exercised, so the test fails if generation were trivial.
struct Coverage {
  size_t bytes = 0;
  size_t unknown_tags = 0;
  size_t borrowed_bytes = 0;
};
Coverage coverage;

// The property body, run inside rapidcheck's context. Kept out of the rc::check lambda so
// that rapidcheck's machinery is instantiated once, not once per message type.
template <typename T>
void RoundTripProperty(int16_t version) {
  {
    const T x = testing::DrawMessage<T>(version);
    Writer w;
    Status st = x.Encode(version, w);
    RC_ASSERT(st.ok());
    RC_ASSERT(w.size() == x.Size(version));
    coverage.bytes += w.size();
    coverage.unknown_tags += x.unknown_tagged_fields.size();
    coverage.borrowed_bytes += w.bytes_borrowed();
    const std::vector<uint8_t> bytes = w.Flatten();
    RC_ASSERT(bytes.size() == w.size());

    Reader r(bytes);
    Result<T> y = T::Decode(version, r);
    RC_ASSERT(y.ok());
    RC_ASSERT(r.empty());
    RC_ASSERT(*y == x);

    Writer again;
    RC_ASSERT(y->Encode(version, again).ok());
    RC_ASSERT(again.Flatten() == bytes);
  }
}

bool RunProperty(const std::string& description, void (*property)(int16_t), int16_t version) {
  return rc::check(description, [property, version] { property(version); });
}

template <typename T>
bool CheckVersion(int16_t version) {
  return RunProperty(fmt::format("{} v{} round trip", T::kName, version), &RoundTripProperty<T>,
                     version);
}

struct Counts {
  int types = 0;
  int versions = 0;
  int flexible_versions = 0;
  int failures = 0;
};

template <typename T>
void CheckType(Counts& counts) {
  ++counts.types;
  for (int16_t v = T::kMinVersion; v <= T::kMaxVersion; ++v) {
    ++counts.versions;
    if (T::IsFlexible(v)) ++counts.flexible_versions;
    if (!CheckVersion<T>(v)) {
      ++counts.failures;
      ADD_FAILURE() << T::kName << " v" << v << " failed its round trip";
    }
  }
}

TEST(RoundTrip, EveryRequestAtEveryVersion) {
  Counts counts;
  for (const ApiInfo& api : AllApis()) {
    bool known = VisitRequestType(api.key, [&]<typename T>() {
      EXPECT_EQ(T::kMinVersion, api.min_version) << api.name;
      EXPECT_EQ(T::kMaxVersion, api.max_version) << api.name;
      CheckType<T>(counts);
    });
    EXPECT_TRUE(known) << api.name;
  }
  EXPECT_EQ(counts.types, 88);
  EXPECT_GT(coverage.bytes, 1000000u);
  EXPECT_GT(coverage.unknown_tags, 1000u);
  EXPECT_GT(coverage.borrowed_bytes, 0u);  // Produce records large enough to be borrowed
  EXPECT_GT(counts.flexible_versions, 0);
  EXPECT_LT(counts.flexible_versions, counts.versions);
  EXPECT_EQ(counts.failures, 0);
  fmt::print("requests: {} types, {} versions ({} flexible), {} bytes encoded\n", counts.types,
             counts.versions, counts.flexible_versions, coverage.bytes);
}

TEST(RoundTrip, EveryResponseAtEveryVersion) {
  Counts counts;
  for (const ApiInfo& api : AllApis()) {
    bool known = VisitResponseType(api.key, [&]<typename T>() {
      EXPECT_EQ(T::kApiKey, api.key);
      CheckType<T>(counts);
    });
    EXPECT_TRUE(known) << api.name;
  }
  EXPECT_EQ(counts.types, 88);
  EXPECT_EQ(counts.failures, 0);
  fmt::print("responses: {} types, {} versions ({} flexible)\n", counts.types, counts.versions,
             counts.flexible_versions);
}

TEST(RoundTrip, HeadersAndDataRecords) {
  Counts counts;
  ForEachMessageType([&]<typename T>() {
    std::string_view name = T::kName;
    if (name.ends_with("Request") || name.ends_with("Response")) return;
    CheckType<T>(counts);
  });
  // RequestHeader, ResponseHeader and the 8 `data` schemas.
  EXPECT_EQ(counts.types, 10);
  EXPECT_EQ(counts.failures, 0);
}

}  // namespace
}  // namespace runnel::protocol
