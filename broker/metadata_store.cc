#include "broker/metadata_store.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <sstream>

namespace runnel::broker {
namespace {

constexpr std::string_view kFileName = "metadata.toml";
constexpr int64_t kFormatVersion = 1;

Result<protocol::Uuid> ParseHexUuid(std::string_view hex) {
  protocol::Uuid id;
  if (hex.size() != 32) return Status::Corruption(fmt::format("topic id '{}' is not 32 hex", hex));
  for (size_t i = 0; i < 16; i++) {
    int v = 0;
    for (size_t j = 0; j < 2; j++) {
      char c = hex[2 * i + j];
      int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
      if (d < 0) return Status::Corruption(fmt::format("topic id '{}' is not hex", hex));
      v = v * 16 + d;
    }
    id.bytes[i] = static_cast<uint8_t>(v);
  }
  return id;
}

// Kafka prints cluster ids as base64url of 16 random bytes (22 characters).
std::string Base64Url(const protocol::Uuid& id) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (uint8_t b : id.bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      out += kAlphabet[(acc >> (bits - 6)) & 63];
      bits -= 6;
    }
  }
  if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 63];
  return out;
}

}  // namespace

const TopicInfo* ClusterMetadata::FindById(const protocol::Uuid& id) const {
  for (const auto& [name, t] : topics) {
    if (t.id == id) return &t;
  }
  return nullptr;
}

bool IsValidTopicName(std::string_view name) {
  if (name.empty() || name.size() > 249 || name == "." || name == "..") return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string SerializeMetadata(const ClusterMetadata& m) {
  toml::table root;
  root.insert("format", kFormatVersion);
  root.insert("cluster_id", m.cluster_id);
  root.insert("node_id", static_cast<int64_t>(m.node_id));
  root.insert("next_producer_id", m.next_producer_id);
  toml::array topics;
  for (const auto& [name, t] : m.topics) {
    toml::table tt;
    tt.insert("name", t.name);
    tt.insert("id", t.id.ToHex());
    tt.insert("partitions", static_cast<int64_t>(t.partitions));
    toml::table configs;
    for (const auto& [k, v] : t.overrides) configs.insert(k, v);
    tt.insert("configs", std::move(configs));
    topics.push_back(std::move(tt));
  }
  root.insert("topics", std::move(topics));
  std::ostringstream os;
  os << root << "\n";
  return os.str();
}

Result<ClusterMetadata> ParseMetadata(std::string_view text) {
  toml::table root;
  try {
    root = toml::parse(text, std::string_view("metadata.toml"));
  } catch (const toml::parse_error& e) {
    return Status::Corruption(fmt::format("metadata.toml: {}", e.description()));
  }
  if (root["format"].value<int64_t>() != kFormatVersion) {
    return Status::Corruption("metadata.toml: missing or unknown format version");
  }
  ClusterMetadata m;
  auto cluster_id = root["cluster_id"].value<std::string>();
  auto node_id = root["node_id"].value<int64_t>();
  if (!cluster_id || !node_id) return Status::Corruption("metadata.toml: no cluster_id/node_id");
  m.cluster_id = *cluster_id;
  m.node_id = static_cast<int32_t>(*node_id);
  m.next_producer_id = root["next_producer_id"].value<int64_t>().value_or(m.next_producer_id);
  if (const toml::array* topics = root["topics"].as_array()) {
    for (const toml::node& n : *topics) {
      const toml::table* tt = n.as_table();
      if (tt == nullptr) return Status::Corruption("metadata.toml: topic is not a table");
      auto name = (*tt)["name"].value<std::string>();
      auto id = (*tt)["id"].value<std::string>();
      auto partitions = (*tt)["partitions"].value<int64_t>();
      if (!name || !id || !partitions || *partitions < 1 || !IsValidTopicName(*name)) {
        return Status::Corruption("metadata.toml: topic without a valid name, id or partitions");
      }
      TopicInfo t;
      t.name = *name;
      RUNNEL_ASSIGN_OR_RETURN(t.id, ParseHexUuid(*id));
      t.partitions = static_cast<int32_t>(*partitions);
      if (const toml::table* configs = (*tt)["configs"].as_table()) {
        for (const auto& [k, v] : *configs) {
          auto value = v.value<std::string>();
          if (!value) return Status::Corruption("metadata.toml: config value is not a string");
          t.overrides[std::string(k.str())] = *value;
        }
      }
      if (!m.topics.emplace(t.name, t).second) {
        return Status::Corruption(fmt::format("metadata.toml: topic {} twice", t.name));
      }
    }
  }
  return m;
}

MetadataStore::MetadataStore(Io& io, std::string data_dir, int32_t node_id)
    : io_(io),
      data_dir_(std::move(data_dir)),
      node_id_(node_id),
      loaded_notify_(io.executor(), io.clock()),
      lock_(io.executor(), 1) {}

std::string MetadataStore::path() const { return JoinPath(data_dir_, std::string(kFileName)); }

protocol::Uuid MetadataStore::NewTopicId() {
  protocol::Uuid id;
  do {
    for (size_t i = 0; i < 16; i += 8) {
      uint64_t r = io_.rng().Next();
      for (size_t j = 0; j < 8; j++) id.bytes[i + j] = static_cast<uint8_t>(r >> (8 * j));
    }
  } while (id.IsZero());
  return id;
}

Task<void> MetadataStore::WaitLoaded() {
  while (!loaded_) co_await loaded_notify_.Wait();
}

Task<Status> MetadataStore::Load() {
  Status s = co_await MakeDirs(io_.fs(), data_dir_);
  if (!s.ok() && !s.Is(ErrorKind::kAlreadyExists)) co_return s.WithContext("data dir");
  // MakeDirs does not sync: make the names of the data dir and its parents durable, or a power
  // loss after the first start could take the whole data dir (and every acked record) with it.
  for (std::string d = data_dir_; !d.empty() && d != "/" && d != "."; d = ParentDir(d)) {
    RUNNEL_CO_TRY(co_await io_.fs().SyncDir(ParentDir(d)));
  }
  Result<bool> exists = co_await io_.fs().Exists(path());
  if (!exists.ok()) co_return exists.status();
  if (*exists) {
    Result<std::vector<std::byte>> bytes =
        co_await ReadFile(io_.fs(), path(), kMetadataFileBytesMax);
    if (!bytes.ok()) co_return bytes.status().WithContext(path());
    std::string_view text(reinterpret_cast<const char*>(bytes->data()), bytes->size());
    Result<ClusterMetadata> m = ParseMetadata(text);
    if (!m.ok()) co_return m.status().WithContext(path());
    if (m->node_id != node_id_) {
      co_return Status::InvalidArgument(fmt::format(
          "{} belongs to node {}, this broker is node-id {}", path(), m->node_id, node_id_));
    }
    state_ = std::move(*m);
  } else {
    state_.node_id = node_id_;
    state_.cluster_id = Base64Url(NewTopicId());
    std::string text = SerializeMetadata(state_);
    RUNNEL_CO_TRY(co_await WriteFileAtomic(
        io_.fs(), path(), std::as_bytes(std::span<const char>(text.data(), text.size()))));
  }
  loaded_ = true;
  loaded_notify_.NotifyAll();
  co_return Status::Ok();
}

Task<Status> MetadataStore::Mutate(std::function<Status(ClusterMetadata&)> fn) {
  RUNNEL_CO_TRY(co_await lock_.Acquire());
  ClusterMetadata next = state_;
  Status s = fn(next);
  if (s.ok() && !(next == state_)) {
    std::string text = SerializeMetadata(next);
    s = co_await WriteFileAtomic(io_.fs(), path(),
                                 std::as_bytes(std::span<const char>(text.data(), text.size())));
    if (s.ok()) state_ = std::move(next);
  }
  lock_.Release();
  co_return s;
}

}  // namespace runnel::broker
