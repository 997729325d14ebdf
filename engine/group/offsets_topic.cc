#include "engine/group/offsets_topic.h"

#include <cstring>

namespace runnel::engine::group {

namespace {

constexpr int16_t kOffsetKeyType = 1;
constexpr int16_t kOffsetKeyTypeLegacy = 0;
constexpr int16_t kGroupKeyType = 2;
constexpr int16_t kOffsetValueVersion = 3;
constexpr int16_t kGroupValueVersion = 3;

class Out {
 public:
  void Int(uint64_t v, int width) {
    for (int i = width - 1; i >= 0; i--) b_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  void I16(int16_t v) { Int(static_cast<uint16_t>(v), 2); }
  void I32(int32_t v) { Int(static_cast<uint32_t>(v), 4); }
  void I64(int64_t v) { Int(static_cast<uint64_t>(v), 8); }
  void Str(std::string_view s) {
    RUNNEL_ASSERT(s.size() <= 32767, "string of {} bytes in an offsets record", s.size());
    I16(static_cast<int16_t>(s.size()));
    b_.insert(b_.end(), s.begin(), s.end());
  }
  void NullableStr(const std::optional<std::string>& s) {
    if (!s.has_value()) return I16(-1);
    Str(*s);
  }
  void Bytes(const std::vector<uint8_t>& v) {
    I32(static_cast<int32_t>(v.size()));
    b_.insert(b_.end(), v.begin(), v.end());
  }
  std::vector<uint8_t> Take() { return std::move(b_); }

 private:
  std::vector<uint8_t> b_;
};

class In {
 public:
  explicit In(const std::vector<uint8_t>& b) : b_(b) {}
  bool ok() const { return ok_; }
  bool done() const { return at_ == b_.size(); }
  uint64_t Int(size_t width) {
    if (!ok_ || at_ + width > b_.size()) {
      ok_ = false;
      return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < width; i++) v = (v << 8) | b_[at_ + i];
    at_ += width;
    return v;
  }
  int16_t I16() { return static_cast<int16_t>(Int(2)); }
  int32_t I32() { return static_cast<int32_t>(Int(4)); }
  int64_t I64() { return static_cast<int64_t>(Int(8)); }
  std::optional<std::string> NullableStr() {
    int16_t n = I16();
    if (!ok_ || n == -1) return std::nullopt;
    if (n < 0 || at_ + static_cast<size_t>(n) > b_.size()) {
      ok_ = false;
      return std::nullopt;
    }
    std::string s(reinterpret_cast<const char*>(b_.data() + at_), static_cast<size_t>(n));
    at_ += static_cast<size_t>(n);
    return s;
  }
  std::string Str() {
    std::optional<std::string> s = NullableStr();
    if (!s.has_value()) ok_ = false;
    return s.value_or("");
  }
  std::vector<uint8_t> Bytes() {
    int32_t n = I32();
    if (!ok_ || n < 0 || at_ + static_cast<size_t>(n) > b_.size()) {
      ok_ = false;
      return {};
    }
    std::vector<uint8_t> v(b_.begin() + static_cast<ptrdiff_t>(at_),
                           b_.begin() + static_cast<ptrdiff_t>(at_ + static_cast<size_t>(n)));
    at_ += static_cast<size_t>(n);
    return v;
  }

 private:
  const std::vector<uint8_t>& b_;
  size_t at_ = 0;
  bool ok_ = true;
};

// Decodes one UTF-8 sequence at s[i], advancing i; malformed input yields U+FFFD for one byte.
uint32_t NextCodePoint(std::string_view s, size_t& i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t b0 = byte(i);
  size_t len = 0;
  uint32_t cp = 0;
  uint32_t min = 0;
  if (b0 < 0x80) {
    i++;
    return b0;
  } else if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    i++;
    return 0xFFFD;
  }
  if (i + len > s.size()) {
    i++;
    return 0xFFFD;
  }
  for (size_t k = 1; k < len; k++) {
    if ((byte(i + k) & 0xC0) != 0x80) {
      i++;
      return 0xFFFD;
    }
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    i++;
    return 0xFFFD;
  }
  i += len;
  return cp;
}

}  // namespace

int32_t JavaStringHash(std::string_view s) {
  uint32_t h = 0;  // Java's int arithmetic wraps: compute unsigned, reinterpret at the end
  size_t i = 0;
  while (i < s.size()) {
    uint32_t cp = NextCodePoint(s, i);
    if (cp >= 0x10000) {
      cp -= 0x10000;
      h = 31 * h + (0xD800 + (cp >> 10));
      h = 31 * h + (0xDC00 + (cp & 0x3FF));
    } else {
      h = 31 * h + cp;
    }
  }
  return static_cast<int32_t>(h);
}

int32_t OffsetsPartitionFor(std::string_view group_id, int32_t partitions) {
  RUNNEL_ASSERT(partitions > 0, "{} partitions", partitions);
  const int32_t h = JavaStringHash(group_id);
  const int32_t abs = h == INT32_MIN ? 0 : (h < 0 ? -h : h);
  return abs % partitions;
}

std::vector<uint8_t> EncodeOffsetKey(std::string_view group_id, const TopicPartition& tp) {
  Out o;
  o.I16(kOffsetKeyType);
  o.Str(group_id);
  o.Str(tp.topic);
  o.I32(tp.partition);
  return o.Take();
}

std::vector<uint8_t> EncodeOffsetValue(const CommittedOffset& offset) {
  Out o;
  o.I16(kOffsetValueVersion);
  o.I64(offset.offset);
  o.I32(offset.leader_epoch);
  o.Str(offset.metadata);
  o.I64(offset.commit_timestamp_ms);
  return o.Take();
}

std::vector<uint8_t> EncodeGroupKey(std::string_view group_id) {
  Out o;
  o.I16(kGroupKeyType);
  o.Str(group_id);
  return o.Take();
}

std::vector<uint8_t> EncodeGroupValue(const GroupRecord& r) {
  Out o;
  o.I16(kGroupValueVersion);
  o.Str(r.protocol_type);
  o.I32(r.generation);
  o.NullableStr(r.protocol_name);
  o.NullableStr(r.leader);
  o.I64(r.current_state_timestamp_ms);
  o.I32(static_cast<int32_t>(r.members.size()));
  for (const MemberRecord& m : r.members) {
    o.Str(m.member_id);
    o.NullableStr(m.group_instance_id);
    o.Str(m.client_id);
    o.Str(m.client_host);
    o.I32(m.rebalance_timeout_ms);
    o.I32(m.session_timeout_ms);
    o.Bytes(m.subscription);
    o.Bytes(m.assignment);
  }
  return o.Take();
}

Result<OffsetsRecord> DecodeOffsetsRecord(const std::vector<uint8_t>& key,
                                          const std::optional<std::vector<uint8_t>>& value) {
  In k(key);
  const int16_t type = k.I16();
  OffsetsRecord out;
  out.group_id = k.Str();
  if (type == kOffsetKeyType || type == kOffsetKeyTypeLegacy) {
    out.kind = OffsetsRecord::Kind::kOffset;
    out.tp.topic = k.Str();
    out.tp.partition = k.I32();
  } else if (type == kGroupKeyType) {
    out.kind = OffsetsRecord::Kind::kGroup;
  } else {
    return Status::Corruption("__consumer_offsets key of unknown type " + std::to_string(type));
  }
  if (!k.ok() || !k.done()) return Status::Corruption("malformed __consumer_offsets key");
  if (!value.has_value()) return out;
  In v(*value);
  const int16_t version = v.I16();
  if (out.kind == OffsetsRecord::Kind::kOffset) {
    if (version < 0 || version > 3) {
      return Status::Corruption("offset commit value version " + std::to_string(version));
    }
    CommittedOffset c;
    c.offset = v.I64();
    if (version >= 3) c.leader_epoch = v.I32();
    c.metadata = v.Str();
    c.commit_timestamp_ms = v.I64();
    if (version == 1) (void)v.I64();  // expireTimestamp: retention is the broker's now
    if (!v.ok() || !v.done()) return Status::Corruption("malformed offset commit value");
    out.offset = std::move(c);
    return out;
  }
  if (version < 0 || version > 3) {
    return Status::Corruption("group metadata value version " + std::to_string(version));
  }
  GroupRecord g;
  g.group_id = out.group_id;
  g.protocol_type = v.Str();
  g.generation = v.I32();
  g.protocol_name = v.NullableStr();
  g.leader = v.NullableStr();
  if (version >= 2) g.current_state_timestamp_ms = v.I64();
  const int32_t members = v.I32();
  if (!v.ok() || members < 0 || static_cast<size_t>(members) > value->size()) {
    return Status::Corruption("malformed group metadata value");
  }
  for (int32_t i = 0; i < members && v.ok(); i++) {
    MemberRecord m;
    m.member_id = v.Str();
    if (version >= 3) m.group_instance_id = v.NullableStr();
    m.client_id = v.Str();
    m.client_host = v.Str();
    if (version >= 1) m.rebalance_timeout_ms = v.I32();
    m.session_timeout_ms = v.I32();
    if (version == 0) m.rebalance_timeout_ms = m.session_timeout_ms;
    m.subscription = v.Bytes();
    m.assignment = v.Bytes();
    g.members.push_back(std::move(m));
  }
  if (!v.ok() || !v.done()) return Status::Corruption("malformed group metadata value");
  out.group = std::move(g);
  return out;
}

}  // namespace runnel::engine::group
