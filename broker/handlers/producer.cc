// InitProducerId (key 22), versions 0-4, for idempotent producers: a fresh producer id (from the
// persisted counter in the metadata, so ids are never reused across restarts) at epoch 0, or —
// when a v3+ client presents its current id and epoch (KIP-360) — the same id with the epoch
// bumped. The partition logs then deduplicate and order that producer's batches
// (DUPLICATE_SEQUENCE_NUMBER is answered as success with the original offsets;
// OUT_OF_ORDER_SEQUENCE_NUMBER as an error). Transactions are not served yet.
#include "broker/handlers/handler.h"
#include "broker/protocol/gen/error_codes.h"
#include "broker/protocol/gen/init_producer_id_request.h"
#include "broker/protocol/gen/init_producer_id_response.h"

namespace runnel::broker {

using protocol::ErrorCode;
using protocol::InitProducerIdRequest;
using protocol::InitProducerIdResponse;

namespace {
constexpr int16_t kProducerEpochMax = 32766;
}  // namespace

Task<Result<Response>> HandleInitProducerId(RequestContext& ctx) {
  RUNNEL_CO_ASSIGN_OR_RETURN(InitProducerIdRequest req,
                             protocol::DecodeRequestBody<InitProducerIdRequest>(ctx.frame));
  InitProducerIdResponse resp;
  if (req.transactional_id.has_value()) {
    resp.error_code = static_cast<int16_t>(ErrorCode::kTransactionalIdAuthorizationFailed);
    co_return EncodeResponse(ctx, resp);
  }
  if (req.producer_id >= 0 && req.producer_epoch >= 0 && req.producer_epoch < kProducerEpochMax) {
    resp.producer_id = req.producer_id;
    resp.producer_epoch = static_cast<int16_t>(req.producer_epoch + 1);
    co_return EncodeResponse(ctx, resp);
  }
  int64_t id = -1;
  auto allocate = [&id](MetadataStore& store) -> Task<Status> {
    std::function<Status(ClusterMetadata&)> change = [&id](ClusterMetadata& meta) -> Status {
      id = meta.next_producer_id++;
      return Status::Ok();
    };
    co_return co_await store.Mutate(std::move(change));
  };
  Status s = co_await ControllerCall<Status>(ctx.node, ctx.io, std::move(allocate));
  if (!s.ok()) {
    resp.error_code = static_cast<int16_t>(ErrorCode::kCoordinatorNotAvailable);
  } else {
    resp.producer_id = id;
    resp.producer_epoch = 0;
  }
  co_return EncodeResponse(ctx, resp);
}

}  // namespace runnel::broker
