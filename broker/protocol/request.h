// Request and response framing on top of the generated codecs: decode a request header
// (choosing the header version from the API table), decode a body of a known type with a
// trailing-bytes check, and encode size-prefixed request and response frames.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <span>

#include "broker/protocol/api_keys.h"
#include "broker/protocol/frame.h"
#include "broker/protocol/gen/request_header.h"
#include "broker/protocol/gen/response_header.h"
#include "broker/protocol/reader.h"
#include "broker/protocol/writer.h"
#include "io/status.h"

namespace runnel::protocol {

struct RequestFrame {
  RequestHeader header;
  int16_t header_version = 0;
  const ApiInfo* api = nullptr;   // never null after a successful decode
  std::span<const uint8_t> body;  // points into the frame
  int16_t api_key() const { return header.request_api_key; }
  int16_t api_version() const { return header.request_api_version; }
};

// Decodes the header of one request frame (size prefix removed). Unknown API keys and
// negative versions are Unsupported; truncated headers are Corruption. A version above the
// API's range is not an error here, so the broker can answer UNSUPPORTED_VERSION with the
// correlation id; DecodeRequestBody rejects it.
Result<RequestFrame> DecodeRequestHeader(std::span<const uint8_t> frame);

Status TrailingBytes(std::string_view what, int16_t version, size_t count);

// Decodes the body as T (the request type of frame.api). Versions outside T's range are
// Unsupported; bytes left after the body are Corruption.
template <typename T>
Result<T> DecodeRequestBody(const RequestFrame& frame) {
  if (frame.api_key() != T::kApiKey) {
    return Status::InvalidArgument(fmt::format("{} is not API key {}", T::kName, frame.api_key()));
  }
  Reader reader(frame.body);
  RUNNEL_ASSIGN_OR_RETURN(T body, T::Decode(frame.api_version(), reader));
  if (!reader.empty()) return TrailingBytes(T::kName, frame.api_version(), reader.remaining());
  return body;
}

// Writes size + request header (version from the API table) + body.
template <typename T>
Status EncodeRequestFrame(const RequestHeader& header, const T& body, Writer& w) {
  const ApiInfo* api = FindApi(header.request_api_key);
  if (api == nullptr) return Status::InvalidArgument("unknown API key");
  int16_t header_version = RequestHeaderVersion(*api, header.request_api_version);
  size_t start = w.bytes_copied();
  size_t size_before = w.size();
  w.WriteInt32(0);
  RUNNEL_TRY(header.Encode(header_version, w));
  RUNNEL_TRY(body.Encode(header.request_api_version, w));
  w.PatchInt32(start, static_cast<int32_t>(w.size() - size_before - kFrameSizePrefixBytes));
  return Status::Ok();
}

// Writes size + response header (v0 for ApiVersions, else by flexibility) + body.
template <typename T>
Status EncodeResponseFrame(int16_t version, int32_t correlation_id, const T& body, Writer& w) {
  const ApiInfo* api = FindApi(T::kApiKey);
  RUNNEL_ASSERT(api != nullptr, "no API for {}", T::kName);
  ResponseHeader header;
  header.correlation_id = correlation_id;
  size_t start = w.bytes_copied();
  size_t size_before = w.size();
  w.WriteInt32(0);
  RUNNEL_TRY(header.Encode(ResponseHeaderVersion(*api, version), w));
  RUNNEL_TRY(body.Encode(version, w));
  w.PatchInt32(start, static_cast<int32_t>(w.size() - size_before - kFrameSizePrefixBytes));
  return Status::Ok();
}

}  // namespace runnel::protocol
