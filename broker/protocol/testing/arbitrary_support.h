// Building blocks for the generated rapidcheck generators (gen/arbitrary_*.cc): each returns a
// value drawn with rapidcheck's `*gen` inside a gen::exec context. Test-only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "broker/protocol/wire_types.h"

namespace runnel::protocol::testing {

// Each draws with rapidcheck's `*gen`, so call them only inside a property (gen::exec or
// rc::check). Defined out of line: the generated Fill functions call them thousands of
// times, and inlining rapidcheck at every call site would make those files slow to compile.
bool ArbBool();
int8_t ArbInt8();
int16_t ArbInt16();
uint16_t ArbUint16();
int32_t ArbInt32();
uint32_t ArbUint32();
int64_t ArbInt64();
// Finite doubles only: NaN != NaN would make equality meaningless.
double ArbFloat64();
Uuid ArbUuid();
std::string ArbString();
std::vector<uint8_t> ArbBytes();
// Records views need storage that outlives the value: a per-thread arena, test-only.
// Sometimes large enough (>= 256 bytes) to be borrowed, not copied, by the Writer.
RecordsView ArbRecords();
// True about one time in four, where the version allows a null.
bool ArbNull();
// An array length: 0 to 4.
size_t ArbCount();
// Unknown tagged fields, sorted by tag, with tags from `first_free_tag` up.
std::vector<TaggedField> ArbUnknownTags(int first_free_tag);

}  // namespace runnel::protocol::testing
