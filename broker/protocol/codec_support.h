// Helpers the generated codecs (broker/protocol/gen/messages_*.cc) call: error construction
// and tagged-field framing. Not part of the public API.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

#include "broker/protocol/reader.h"
#include "broker/protocol/wire_types.h"
#include "broker/protocol/writer.h"
#include "io/status.h"

namespace runnel::protocol {

// Arrays reserve at most this many elements up front; the rest grow as elements are read,
// so a large (but in-bounds) count cannot make us allocate before the bytes are there.
inline constexpr size_t kReserveElementsMax = 1024;

Status BadVersion(const char* message, int16_t version);
Status NotInVersion(const char* field, int16_t version);
// A null read where the version does not allow one (Corruption).
Status NullInNonNullableVersion(const char* field, int16_t version);
// A null the caller asked to encode where the version does not allow one (InvalidArgument).
Status NullNotEncodable(const char* field, int16_t version);

// One tagged field: uvarint tag, uvarint size, then size bytes (returned as a view).
Status ReadTaggedField(Reader& r, uint32_t* tag, std::span<const uint8_t>* data);
Status CheckTaggedFieldConsumed(const Reader& field_reader, const char* field);

inline void WriteTaggedField(Writer& w, const TaggedField& f) {
  w.WriteUvarint(f.tag);
  w.WriteUvarint(static_cast<uint32_t>(f.data.size()));
  w.WriteRaw(f.data);
}

}  // namespace runnel::protocol
