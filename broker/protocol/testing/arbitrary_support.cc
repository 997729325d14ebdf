#include "broker/protocol/testing/arbitrary_support.h"

#include <rapidcheck.h>

#include <deque>

namespace runnel::protocol::testing {

bool ArbBool() { return *rc::gen::arbitrary<bool>(); }
int8_t ArbInt8() { return *rc::gen::arbitrary<int8_t>(); }
int16_t ArbInt16() { return *rc::gen::arbitrary<int16_t>(); }
uint16_t ArbUint16() { return *rc::gen::arbitrary<uint16_t>(); }
int32_t ArbInt32() { return *rc::gen::arbitrary<int32_t>(); }
uint32_t ArbUint32() { return *rc::gen::arbitrary<uint32_t>(); }
int64_t ArbInt64() { return *rc::gen::arbitrary<int64_t>(); }
double ArbFloat64() { return static_cast<double>(*rc::gen::arbitrary<int32_t>()) / 7.0; }
Uuid ArbUuid() {
  Uuid u;
  for (uint8_t& b : u.bytes) b = *rc::gen::arbitrary<uint8_t>();
  return u;
}
std::string ArbString() { return *rc::gen::resize(40, rc::gen::arbitrary<std::string>()); }
std::vector<uint8_t> ArbBytes() {
  return *rc::gen::resize(40, rc::gen::arbitrary<std::vector<uint8_t>>());
}
RecordsView ArbRecords() {
  static thread_local std::deque<std::vector<uint8_t>> arena;
  if (arena.size() > 100000) arena.clear();
  // Sometimes large enough to be borrowed (not copied) by the Writer.
  size_t n = *rc::gen::element<size_t>(0, 1, 17, 300, 1000);
  std::vector<uint8_t>& bytes = arena.emplace_back(n);
  uint8_t seed = *rc::gen::arbitrary<uint8_t>();
  for (size_t i = 0; i < n; ++i) bytes[i] = static_cast<uint8_t>(seed + i * 31);
  return RecordsView::Of(bytes);
}
bool ArbNull() { return *rc::gen::inRange(0, 4) == 0; }
size_t ArbCount() { return *rc::gen::inRange<size_t>(0, 4); }
std::vector<TaggedField> ArbUnknownTags(int first_free_tag) {
  std::vector<TaggedField> out;
  int n = *rc::gen::inRange(0, 3);
  uint32_t tag = static_cast<uint32_t>(first_free_tag);
  for (int i = 0; i < n; ++i) {
    tag += static_cast<uint32_t>(*rc::gen::inRange(0, 200));
    out.push_back(TaggedField{tag, ArbBytes()});
    ++tag;
  }
  return out;
}

}  // namespace runnel::protocol::testing
