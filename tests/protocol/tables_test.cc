// The API key table and the error-code table.
#include <gtest/gtest.h>

#include <set>

#include "broker/protocol/api_keys.h"
#include "broker/protocol/gen/error_codes.h"
#include "broker/protocol/gen/visit.h"

namespace runnel::protocol {
namespace {

TEST(ApiTable, Has88ApisSortedByKeyAndMatchingTheGeneratedTypes) {
  auto apis = AllApis();
  EXPECT_EQ(apis.size(), 88u);
  std::set<int16_t> keys;
  for (size_t i = 0; i < apis.size(); ++i) {
    keys.insert(apis[i].key);
    if (i > 0) {
      EXPECT_LT(apis[i - 1].key, apis[i].key);
    }
    EXPECT_EQ(FindApi(apis[i].key), &apis[i]);
    bool found = VisitRequestType(apis[i].key, [&]<typename T>() {
      EXPECT_EQ(T::kName, std::string(apis[i].name) + "Request");
      EXPECT_EQ(T::kFirstFlexibleVersion, apis[i].first_flexible_version);
    });
    EXPECT_TRUE(found);
  }
  EXPECT_EQ(keys.size(), 88u);
  EXPECT_EQ(FindApi(-1), nullptr);
  EXPECT_EQ(FindApi(4000), nullptr);
  EXPECT_FALSE(VisitRequestType(4000, []<typename T>() {}));
}

TEST(ApiTable, KnownEntries) {
  const ApiInfo* produce = FindApi(0);
  ASSERT_NE(produce, nullptr);
  EXPECT_EQ(produce->name, "Produce");
  EXPECT_EQ(produce->max_version, 11);
  EXPECT_EQ(produce->first_flexible_version, 9);
  EXPECT_EQ(produce->advertise_min_version, 0);  // librdkafka needs 0 advertised
  EXPECT_EQ(produce->implement_min_version, 3);
  const ApiInfo* fetch = FindApi(1);
  ASSERT_NE(fetch, nullptr);
  EXPECT_EQ(fetch->advertise_min_version, 4);
  EXPECT_EQ(fetch->advertise_max_version, 17);
  const ApiInfo* vote = FindApi(52);
  ASSERT_NE(vote, nullptr);
  EXPECT_EQ(vote->name, "Vote");
  EXPECT_FALSE(vote->IsAdvertised());
  EXPECT_TRUE(vote->listeners & kListenerController);
}

TEST(ApiTable, AdvertisedRangesAreValidAndStable) {
  int advertised = 0;
  for (const ApiInfo& api : AllApis()) {
    if (!api.IsAdvertised()) continue;
    ++advertised;
    EXPECT_TRUE(api.IsValid(api.advertise_min_version)) << api.name;
    EXPECT_TRUE(api.IsValid(api.advertise_max_version)) << api.name;
    EXPECT_LE(api.advertise_min_version, api.implement_min_version) << api.name;
    EXPECT_EQ(api.advertise_max_version, api.implement_max_version) << api.name;
    if (api.latest_version_unstable) {
      EXPECT_LT(api.advertise_max_version, api.max_version) << api.name;
    }
  }
  EXPECT_EQ(advertised, 35);
  const ApiInfo* end_txn = FindApi(26);
  ASSERT_NE(end_txn, nullptr);
  EXPECT_TRUE(end_txn->latest_version_unstable);
}

TEST(ApiTable, HeaderVersions) {
  const ApiInfo& api_versions = *FindApi(kApiVersionsKey);
  EXPECT_EQ(RequestHeaderVersion(api_versions, 0), 1);
  EXPECT_EQ(RequestHeaderVersion(api_versions, 3), 2);
  EXPECT_EQ(RequestHeaderVersion(api_versions, 99), 2);  // newer client: still parseable
  EXPECT_EQ(ResponseHeaderVersion(api_versions, 3), 0);  // always v0
  const ApiInfo& shutdown = *FindApi(kControlledShutdownKey);
  EXPECT_EQ(RequestHeaderVersion(shutdown, 0), 0);
  EXPECT_EQ(RequestHeaderVersion(shutdown, 1), 1);
  const ApiInfo& metadata = *FindApi(3);
  EXPECT_EQ(RequestHeaderVersion(metadata, 8), 1);
  EXPECT_EQ(RequestHeaderVersion(metadata, 9), 2);
  EXPECT_EQ(ResponseHeaderVersion(metadata, 8), 0);
  EXPECT_EQ(ResponseHeaderVersion(metadata, 9), 1);
}

TEST(ErrorCodes, PublishedList) {
  EXPECT_EQ(static_cast<int16_t>(ErrorCode::kNotLeaderOrFollower), 6);
  EXPECT_EQ(ErrorCodeName(ErrorCode::kNotLeaderOrFollower), "NOT_LEADER_OR_FOLLOWER");
  EXPECT_TRUE(IsRetriable(ErrorCode::kNotLeaderOrFollower));
  EXPECT_FALSE(IsRetriable(ErrorCode::kUnsupportedVersion));
  EXPECT_EQ(static_cast<int16_t>(ErrorCode::kUnsupportedVersion), 35);
  EXPECT_EQ(static_cast<int16_t>(ErrorCode::kUnknownServerError), -1);
  EXPECT_EQ(ErrorCodeName(static_cast<ErrorCode>(999)), "UNKNOWN_ERROR_CODE");
  EXPECT_FALSE(FindErrorCode(999).has_value());
  int count = 0;
  for (int16_t c = -1; c < 200; ++c) {
    auto info = FindErrorCode(c);
    if (!info) continue;
    ++count;
    EXPECT_EQ(static_cast<int16_t>(info->code), c);
  }
  EXPECT_EQ(count, kErrorCodeCount);
  EXPECT_EQ(count, 129);  // -1 .. 127
}

}  // namespace
}  // namespace runnel::protocol
