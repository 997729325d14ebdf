#include "broker/protocol/codec_support.h"

#include <fmt/format.h>

namespace runnel::protocol {

Status BadVersion(const char* message, int16_t version) {
  return Status::Unsupported(fmt::format("{} has no version {}", message, version));
}

Status NotInVersion(const char* field, int16_t version) {
  return Status::Unsupported(fmt::format(
      "{} is set but version {} cannot carry it (the field is not ignorable)", field, version));
}

Status NullInNonNullableVersion(const char* field, int16_t version) {
  return Status::Corruption(
      fmt::format("{} is null, but not nullable in version {}", field, version));
}

Status NullNotEncodable(const char* field, int16_t version) {
  return Status::InvalidArgument(
      fmt::format("{} is null, but version {} cannot encode a null there", field, version));
}

Status ReadTaggedField(Reader& r, uint32_t* tag, std::span<const uint8_t>* data) {
  uint32_t size = 0;
  RUNNEL_TRY(r.ReadUvarint(tag));
  RUNNEL_TRY(r.ReadUvarint(&size));
  if (size > r.remaining()) {
    return Status::Corruption(fmt::format("tagged field {} size {} past the end ({} bytes left)",
                                          *tag, size, r.remaining()));
  }
  return r.ReadSpan(size, data);
}

Status CheckTaggedFieldConsumed(const Reader& field_reader, const char* field) {
  if (!field_reader.empty()) {
    return Status::Corruption(
        fmt::format("tagged field {} has {} unread bytes", field, field_reader.remaining()));
  }
  return Status::Ok();
}

}  // namespace runnel::protocol
