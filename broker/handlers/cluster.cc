// DescribeCluster (60): this node as the only broker and the controller.
#include "broker/handlers/handler.h"
#include "broker/protocol/gen/describe_cluster_request.h"
#include "broker/protocol/gen/describe_cluster_response.h"
#include "broker/protocol/gen/error_codes.h"

namespace runnel::broker {

Task<Result<Response>> HandleDescribeCluster(RequestContext& ctx) {
  using protocol::DescribeClusterRequest;
  using protocol::DescribeClusterResponse;
  RUNNEL_CO_ASSIGN_OR_RETURN(DescribeClusterRequest req,
                             protocol::DecodeRequestBody<DescribeClusterRequest>(ctx.frame));
  ClusterMetadata meta = co_await SnapshotMetadata(ctx.node, ctx.io);
  DescribeClusterResponse resp;
  resp.endpoint_type = req.endpoint_type;
  resp.cluster_id = meta.cluster_id;
  resp.controller_id = meta.node_id;
  if (req.include_cluster_authorized_operations) resp.cluster_authorized_operations = 0;
  // Endpoint type 1 is brokers; 2 (controllers) is for KRaft controller quorums.
  if (req.endpoint_type != 1) {
    resp.error_code = static_cast<int16_t>(protocol::ErrorCode::kUnsupportedEndpointType);
    resp.error_message = "only broker endpoints (1) are served";
  } else {
    const Address advertised = ctx.node.config().AdvertisedAddress();
    DescribeClusterResponse::DescribeClusterBroker b;
    b.broker_id = meta.node_id;
    b.host = advertised.host;
    b.port = advertised.port;
    resp.brokers.push_back(std::move(b));
  }
  co_return EncodeResponse(ctx, resp);
}

}  // namespace runnel::broker
