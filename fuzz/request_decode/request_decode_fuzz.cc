// libFuzzer target: any bytes as a request frame (size prefix removed) of any API and
// version. The header picks the API and version; the body is decoded with the generated
// codec. A decode may fail (that is a Status), but it must never crash or read out of bounds
// (ASan/UBSan in scripts/fuzz.sh), and whatever decodes must re-encode to bytes of exactly
// Size() that decode back to an equal value. The same bytes are also fed to the FrameReader.
//   scripts/fuzz.sh 60 request_decode   (seed corpus: fuzz/request_decode/corpus/)
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "broker/protocol/frame.h"
#include "broker/protocol/gen/visit.h"
#include "broker/protocol/request.h"

namespace runnel::protocol {
namespace {

[[noreturn]] void Fail(const char* what, std::string_view name, int16_t version) {
  std::fprintf(stderr, "request_decode_fuzz: %s for %.*s v%d\n", what,
               static_cast<int>(name.size()), name.data(), version);
  std::abort();
}

template <typename T>
void CheckBody(const RequestFrame& frame) {
  const int16_t version = frame.api_version();
  Result<T> body = DecodeRequestBody<T>(frame);
  if (!body.ok()) return;
  Writer w;
  Status st = body->Encode(version, w);
  // Whatever was decoded can be encoded: every field holds a value its version can carry.
  if (!st.ok()) Fail("re-encode failed", T::kName, version);
  if (w.size() != body->Size(version)) Fail("Size() differs from bytes written", T::kName, version);
  std::vector<uint8_t> bytes = w.Flatten();
  Reader r(bytes);
  Result<T> again = T::Decode(version, r);
  if (!again.ok() || !r.empty()) Fail("re-decode failed", T::kName, version);
  if (!(*again == *body)) Fail("decode(encode(x)) != x", T::kName, version);
}

void DecodeStream(std::span<const uint8_t> data) {
  // Small maximum so that oversize frames are reachable.
  FrameReader frames(/*frame_bytes_max=*/4096);
  frames.Append(data);
  for (int i = 0; i < 8; ++i) {
    auto next = frames.Next();
    if (!next.ok() || !next->has_value()) break;
  }
  (void)frames.Finish();
}

}  // namespace
}  // namespace runnel::protocol

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace runnel::protocol;
  std::span<const uint8_t> input(data, size);
  runnel::Result<RequestFrame> frame = DecodeRequestHeader(input);
  if (frame.ok() && frame->api->IsValid(frame->api_version())) {
    const RequestFrame& f = *frame;
    VisitRequestType(f.api_key(), [&]<typename T>() { CheckBody<T>(f); });
  }
  DecodeStream(input);
  return 0;
}
