// ApiVersions (key 18): the APIs this broker both advertises (advertised.json) and serves (a
// handler exists), so a client never picks an API that would close its connection.
#include "broker/handlers/handler.h"
#include "broker/protocol/gen/api_versions_request.h"
#include "broker/protocol/gen/api_versions_response.h"
#include "broker/protocol/gen/error_codes.h"

namespace runnel::broker {

using protocol::ApiVersionsRequest;
using protocol::ApiVersionsResponse;
using protocol::ErrorCode;

Task<Result<Response>> HandleApiVersions(RequestContext& ctx) {
  const protocol::ApiInfo& self = *protocol::FindApi(protocol::kApiVersionsKey);
  ApiVersionsResponse resp;
  if (ctx.version() > self.advertise_max_version) {
    // A newer client: answer in the v0 format (header v0, error + our range) so it retries with
    // a version we speak (KIP-511).
    resp.error_code = static_cast<int16_t>(ErrorCode::kUnsupportedVersion);
    ApiVersionsResponse::ApiVersion range;
    range.api_key = self.key;
    range.min_version = self.advertise_min_version;
    range.max_version = self.advertise_max_version;
    resp.api_keys.push_back(range);
    protocol::Writer w(64);
    RUNNEL_CO_TRY(protocol::EncodeResponseFrame(0, ctx.correlation_id(), resp, w));
    co_return Response{w.Flatten(), true, {}};
  }
  RUNNEL_CO_ASSIGN_OR_RETURN(ApiVersionsRequest req,
                             protocol::DecodeRequestBody<ApiVersionsRequest>(ctx.frame));
  (void)req;
  for (const protocol::ApiInfo& api : protocol::AllApis()) {
    if (!api.IsAdvertised() || FindHandler(api.key) == nullptr) continue;
    ApiVersionsResponse::ApiVersion v;
    v.api_key = api.key;
    v.min_version = api.advertise_min_version;
    v.max_version = api.advertise_max_version;
    resp.api_keys.push_back(v);
  }
  co_return EncodeResponse(ctx, resp);
}

}  // namespace runnel::broker
