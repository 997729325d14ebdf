// DescribeConfigs (32), AlterConfigs (33), IncrementalAlterConfigs (44). Topics: every topic
// setting with its effective value and source; overrides are changed through
// MetadataStore::Mutate (persisted before the reply). The BROKER resource (named by this node's
// id, or "" for the cluster default) lists the broker settings; they are static (set by flags
// or the TOML file), so altering them is refused.
#include "broker/handlers/handler.h"
#include "broker/protocol/gen/alter_configs_request.h"
#include "broker/protocol/gen/alter_configs_response.h"
#include "broker/protocol/gen/describe_configs_request.h"
#include "broker/protocol/gen/describe_configs_response.h"
#include "broker/protocol/gen/incremental_alter_configs_request.h"
#include "broker/protocol/gen/incremental_alter_configs_response.h"
#include "broker/topic_ops.h"

namespace runnel::broker {

using protocol::ErrorCode;

namespace {

constexpr int8_t kResourceTopic = 2;
constexpr int8_t kResourceBroker = 4;

// Kafka's ConfigType codes (DescribeConfigs v3+).
int8_t ConfigTypeCode(SettingType t) {
  switch (t) {
    case SettingType::kBool:
      return 1;
    case SettingType::kString:
      return 2;
    case SettingType::kInt:
      return 3;
    case SettingType::kLong:
      return 5;
    case SettingType::kList:
      return 7;
  }
  return 0;
}

bool Wanted(const std::optional<std::vector<std::string>>& keys, std::string_view name) {
  if (!keys.has_value() || keys->empty()) return true;
  return std::find(keys->begin(), keys->end(), name) != keys->end();
}

bool IsThisBroker(const std::string& resource_name, int32_t node_id) {
  return resource_name.empty() || resource_name == std::to_string(node_id);
}

// Shared by AlterConfigs and IncrementalAlterConfigs: applies per-resource changes to topic
// overrides in one Mutate and returns one error per resource.
Task<std::vector<TopicError>> AlterTopicConfigs(
    RequestContext& ctx, std::vector<std::pair<int8_t, std::string>> resources,
    std::vector<std::vector<ConfigChange>> changes, bool replace, bool validate_only) {
  std::vector<TopicError> errors(resources.size());
  const BrokerConfig& config = ctx.node.config();
  for (size_t i = 0; i < resources.size(); i++) {
    const auto& [type, name] = resources[i];
    if (type == kResourceBroker) {
      errors[i] = IsThisBroker(name, config.node_id)
                      ? TopicError{ErrorCode::kInvalidRequest,
                                   "broker settings are static: change the config file or "
                                   "flags and restart"}
                      : TopicError{ErrorCode::kInvalidRequest, "no such broker"};
    } else if (type != kResourceTopic) {
      errors[i] = {ErrorCode::kInvalidRequest,
                   fmt::format("resource type {} is not supported", static_cast<int>(type))};
    }
  }
  Status s =
      co_await ControllerCall<Status>(ctx.node, ctx.io, [&](MetadataStore& store) -> Task<Status> {
        std::function<Status(ClusterMetadata&)> change = [&](ClusterMetadata& meta) -> Status {
          for (size_t i = 0; i < resources.size(); i++) {
            if (!errors[i].ok()) continue;
            auto it = meta.topics.find(resources[i].second);
            if (it == meta.topics.end()) {
              errors[i] = {ErrorCode::kUnknownTopicOrPartition, "no such topic"};
              continue;
            }
            TopicOverrides next = it->second.overrides;
            errors[i] = ApplyConfigChanges(config, next, changes[i], replace);
            if (errors[i].ok() && !validate_only) it->second.overrides = std::move(next);
          }
          return Status::Ok();
        };
        co_return co_await store.Mutate(std::move(change));
      });
  if (!s.ok()) {
    for (auto& e : errors) {
      if (e.ok()) e = {ErrorCode::kKafkaStorageError, s.ToString()};
    }
  }
  co_return errors;
}

}  // namespace

Task<Result<Response>> HandleDescribeConfigs(RequestContext& ctx) {
  using protocol::DescribeConfigsRequest;
  using protocol::DescribeConfigsResponse;
  RUNNEL_CO_ASSIGN_OR_RETURN(DescribeConfigsRequest req,
                             protocol::DecodeRequestBody<DescribeConfigsRequest>(ctx.frame));
  const BrokerConfig& config = ctx.node.config();
  ClusterMetadata meta = co_await SnapshotMetadata(ctx.node, ctx.io);
  const bool with_docs = ctx.version() >= 3 && req.include_documentation;
  DescribeConfigsResponse resp;
  for (const auto& res : req.resources) {
    DescribeConfigsResponse::DescribeConfigsResult out;
    out.resource_type = res.resource_type;
    out.resource_name = res.resource_name;
    out.error_message = std::nullopt;
    if (res.resource_type == kResourceTopic) {
      auto it = meta.topics.find(res.resource_name);
      if (it == meta.topics.end()) {
        out.error_code = static_cast<int16_t>(ErrorCode::kUnknownTopicOrPartition);
        out.error_message = "no such topic";
      } else {
        Result<TopicConfig> effective = EffectiveTopicConfig(config.topic, it->second.overrides);
        const TopicConfig& c = effective.ok() ? *effective : config.topic;
        for (const TopicSettingInfo& info : TopicSettings()) {
          if (!Wanted(res.configuration_keys, info.name)) continue;
          DescribeConfigsResponse::DescribeConfigsResourceResult r;
          r.name = std::string(info.name);
          r.value = TopicSettingValue(c, info.name);
          r.config_source = TopicConfigSource(config, it->second.overrides, info.name);
          r.config_type = ConfigTypeCode(info.type);
          r.documentation =
              with_docs ? std::optional<std::string>(std::string(info.help)) : std::nullopt;
          if (req.include_synonyms) {
            DescribeConfigsResponse::DescribeConfigsSynonym syn;
            syn.name = r.name;
            syn.value = r.value;
            syn.source = r.config_source;
            r.synonyms.push_back(std::move(syn));
          }
          out.configs.push_back(std::move(r));
        }
      }
    } else if (res.resource_type == kResourceBroker &&
               IsThisBroker(res.resource_name, config.node_id)) {
      for (const auto& [name, value] : DescribeSettings(config)) {
        if (!Wanted(res.configuration_keys, name)) continue;
        DescribeConfigsResponse::DescribeConfigsResourceResult r;
        r.name = name;
        r.value = value;
        r.read_only = true;
        r.config_source = kConfigSourceStaticBroker;
        r.config_type = ConfigTypeCode(SettingType::kString);
        r.documentation = std::nullopt;
        out.configs.push_back(std::move(r));
      }
    } else {
      out.error_code = static_cast<int16_t>(ErrorCode::kInvalidRequest);
      out.error_message = fmt::format("resource type {} name '{}' is not supported here",
                                      static_cast<int>(res.resource_type), res.resource_name);
    }
    resp.results.push_back(std::move(out));
  }
  co_return EncodeResponse(ctx, resp);
}

Task<Result<Response>> HandleAlterConfigs(RequestContext& ctx) {
  using protocol::AlterConfigsRequest;
  using protocol::AlterConfigsResponse;
  RUNNEL_CO_ASSIGN_OR_RETURN(AlterConfigsRequest req,
                             protocol::DecodeRequestBody<AlterConfigsRequest>(ctx.frame));
  std::vector<std::pair<int8_t, std::string>> resources;
  std::vector<std::vector<ConfigChange>> changes;
  for (const auto& r : req.resources) {
    resources.emplace_back(r.resource_type, r.resource_name);
    std::vector<ConfigChange> c;
    for (const auto& kv : r.configs) c.push_back({kv.name, ConfigOp::kSet, kv.value});
    changes.push_back(std::move(c));
  }
  std::vector<TopicError> errors =
      co_await AlterTopicConfigs(ctx, resources, std::move(changes), true, req.validate_only);
  AlterConfigsResponse resp;
  for (size_t i = 0; i < resources.size(); i++) {
    AlterConfigsResponse::AlterConfigsResourceResponse r;
    r.resource_type = resources[i].first;
    r.resource_name = resources[i].second;
    r.error_code = errors[i].wire();
    r.error_message = errors[i].wire_message();
    resp.responses.push_back(std::move(r));
  }
  co_return EncodeResponse(ctx, resp);
}

Task<Result<Response>> HandleIncrementalAlterConfigs(RequestContext& ctx) {
  using protocol::IncrementalAlterConfigsRequest;
  using protocol::IncrementalAlterConfigsResponse;
  RUNNEL_CO_ASSIGN_OR_RETURN(
      IncrementalAlterConfigsRequest req,
      protocol::DecodeRequestBody<IncrementalAlterConfigsRequest>(ctx.frame));
  std::vector<std::pair<int8_t, std::string>> resources;
  std::vector<std::vector<ConfigChange>> changes;
  for (const auto& r : req.resources) {
    resources.emplace_back(r.resource_type, r.resource_name);
    std::vector<ConfigChange> c;
    for (const auto& kv : r.configs) {
      c.push_back({kv.name, static_cast<ConfigOp>(kv.config_operation), kv.value});
    }
    changes.push_back(std::move(c));
  }
  std::vector<TopicError> errors =
      co_await AlterTopicConfigs(ctx, resources, std::move(changes), false, req.validate_only);
  IncrementalAlterConfigsResponse resp;
  for (size_t i = 0; i < resources.size(); i++) {
    IncrementalAlterConfigsResponse::AlterConfigsResourceResponse r;
    r.resource_type = resources[i].first;
    r.resource_name = resources[i].second;
    r.error_code = errors[i].wire();
    r.error_message = errors[i].wire_message();
    resp.responses.push_back(std::move(r));
  }
  co_return EncodeResponse(ctx, resp);
}

}  // namespace runnel::broker
