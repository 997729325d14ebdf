#include "broker/protocol/request.h"

namespace runnel::protocol {

Result<RequestFrame> DecodeRequestHeader(std::span<const uint8_t> frame) {
  Reader peek(frame);
  int16_t key = 0;
  int16_t version = 0;
  RUNNEL_TRY(peek.ReadInt16(&key));
  RUNNEL_TRY(peek.ReadInt16(&version));
  const ApiInfo* api = FindApi(key);
  if (api == nullptr) return Status::Unsupported(fmt::format("unknown API key {}", key));
  if (version < 0) {
    return Status::Unsupported(fmt::format("negative version {} of {}", version, api->name));
  }
  RequestFrame out;
  out.api = api;
  out.header_version = RequestHeaderVersion(*api, version);
  Reader reader(frame);
  Status st = out.header.DecodeFrom(out.header_version, reader);
  if (!st.ok()) return st.WithContext(fmt::format("{} v{} request header", api->name, version));
  out.body = reader.rest();
  return out;
}

Status TrailingBytes(std::string_view what, int16_t version, size_t count) {
  return Status::Corruption(fmt::format("{} trailing bytes after {} v{}", count, what, version));
}

}  // namespace runnel::protocol
