#include "bench/broker/kafka_load.h"

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <memory>

namespace runnel::bench {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct ClientDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct TopicDeleter {
  void operator()(rd_kafka_topic_t* rkt) const { rd_kafka_topic_destroy(rkt); }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
};
using Client = std::unique_ptr<rd_kafka_t, ClientDeleter>;
using TopicHandle = std::unique_ptr<rd_kafka_topic_t, TopicDeleter>;
using Queue = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;

// Builds a configuration from `properties`; `setup` may add callbacks. Null and `error` set when
// librdkafka refuses a property or the client.
Client NewClient(rd_kafka_type_t type,
                 const std::vector<std::pair<std::string, std::string>>& properties,
                 void (*setup)(rd_kafka_conf_t*, void*), void* opaque, std::string& error) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::array<char, 512> errstr{};
  for (const auto& [name, value] : properties) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr.data(), errstr.size()) !=
        RD_KAFKA_CONF_OK) {
      error = fmt::format("librdkafka refused {}={}: {}", name, value, errstr.data());
      rd_kafka_conf_destroy(conf);
      return nullptr;
    }
  }
  if (setup != nullptr) setup(conf, opaque);
  rd_kafka_t* rk = rd_kafka_new(type, conf, errstr.data(), errstr.size());
  if (rk == nullptr) {
    error = fmt::format("rd_kafka_new: {}", errstr.data());
    rd_kafka_conf_destroy(conf);
  }
  return Client(rk);
}

// Partitions of `topic` as Metadata reports them (-1 with `error` set when it has none yet).
int TopicPartitions(rd_kafka_t* rk, rd_kafka_topic_t* rkt, std::string& error) {
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 5000);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    error = fmt::format("metadata: {}", rd_kafka_err2str(err));
    return -1;
  }
  int count = -1;
  if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    count = md->topics[0].partition_cnt;
  } else {
    error = md->topic_cnt == 1 ? fmt::format("metadata: {}", rd_kafka_err2str(md->topics[0].err))
                               : "metadata: topic missing";
  }
  rd_kafka_metadata_destroy(md);
  return count;
}

// Waits (up to `timeout_ms`) until Metadata shows `topic` with `partitions` partitions.
bool AwaitTopic(rd_kafka_t* rk, rd_kafka_topic_t* rkt, int partitions, int timeout_ms,
                std::string& error) {
  const auto start = Clock::now();
  for (;;) {
    std::string why;
    int seen = TopicPartitions(rk, rkt, why);
    if (seen == partitions) return true;
    if (SecondsSince(start) * 1000 > timeout_ms) {
      error = seen < 0 ? why
                       : fmt::format("topic {} has {} partitions, not {}", rd_kafka_topic_name(rkt),
                                     seen, partitions);
      return false;
    }
    rd_kafka_poll(rk, 100);
  }
}

void StoreSequence(char* value, uint64_t seq) {
  for (int i = 0; i < 8; ++i) value[i] = static_cast<char>((seq >> (8 * i)) & 0xff);
}
uint64_t LoadSequence(const char* value) {
  uint64_t seq = 0;
  for (int i = 0; i < 8; ++i) seq |= uint64_t{static_cast<unsigned char>(value[i])} << (8 * i);
  return seq;
}

struct DeliveryCounts {
  uint64_t acked = 0;
  uint64_t failed = 0;
  uint64_t bytes = 0;
  std::string first_error;
};

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) {
  auto* counts = static_cast<DeliveryCounts*>(opaque);
  if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (counts->failed++ == 0) counts->first_error = rd_kafka_err2str(msg->err);
    return;
  }
  ++counts->acked;
  counts->bytes += msg->len;
}

void SetDeliveryCallback(rd_kafka_conf_t* conf, void* opaque) {
  rd_kafka_conf_set_opaque(conf, opaque);
  rd_kafka_conf_set_dr_msg_cb(conf, OnDelivery);
}

// Checks each consumed message of one pass over a topic written by Produce.
struct PassCheck {
  uint32_t message_bytes;
  int partitions;
  uint64_t messages;
  const std::string& topic;
  ConsumeOutcome& out;
  // seen[seq] is the last pass that returned seq: a second copy in one pass is an error, and a
  // pass ends when `messages` distinct sequence numbers came back.
  std::vector<uint32_t> seen = std::vector<uint32_t>(messages, 0);
  uint32_t pass = 1;
  uint64_t pass_messages = 0;

  static void OnMessage(rd_kafka_message_t* msg, void* opaque) {
    static_cast<PassCheck*>(opaque)->Check(*msg);
  }

  void Check(const rd_kafka_message_t& msg) {
    if (!out.error.empty()) return;
    if (msg.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      out.error =
          fmt::format("consume {}/{}: {}", topic, msg.partition, rd_kafka_message_errstr(&msg));
      return;
    }
    if (msg.len != message_bytes || msg.payload == nullptr) {
      out.error = fmt::format("offset {} of {}/{} has {} bytes, not {}", msg.offset, topic,
                              msg.partition, msg.len, message_bytes);
      return;
    }
    const uint64_t seq = LoadSequence(static_cast<const char*>(msg.payload));
    if (seq >= messages ||
        seq % static_cast<uint64_t>(partitions) != static_cast<uint64_t>(msg.partition)) {
      out.error = fmt::format("offset {} of {}/{} carries sequence {}", msg.offset, topic,
                              msg.partition, seq);
      return;
    }
    if (seen[seq] == pass) {
      out.error = fmt::format("sequence {} came back twice in pass {}", seq, pass);
      return;
    }
    seen[seq] = pass;
    ++pass_messages;
    ++out.messages;
    out.bytes += msg.len;
  }
};

}  // namespace

std::vector<std::pair<std::string, std::string>> LoadSettings::ProducerProperties(int acks) const {
  return {
      {"bootstrap.servers", bootstrap},
      {"acks", acks == -1 ? "all" : std::to_string(acks)},
      {"linger.ms", std::to_string(linger_ms)},
      {"batch.size", std::to_string(batch_bytes)},
      {"message.max.bytes", std::to_string(batch_bytes)},
      {"compression.type", "none"},
      {"enable.idempotence", "false"},
      {"queue.buffering.max.messages", "100000"},
      {"queue.buffering.max.kbytes", "1048576"},
      {"message.timeout.ms", std::to_string(timeout_ms)},
  };
}

std::vector<std::pair<std::string, std::string>> LoadSettings::ConsumerProperties() const {
  return {
      {"bootstrap.servers", bootstrap},
      {"fetch.wait.max.ms", std::to_string(fetch_wait_ms)},
      {"max.partition.fetch.bytes", std::to_string(partition_fetch_bytes)},
      {"fetch.max.bytes", "52428800"},
      {"queued.max.messages.kbytes", "65536"},
      {"enable.partition.eof", "false"},
      {"auto.offset.reset", "error"},
      {"check.crcs", "false"},
  };
}

std::string LoadSettings::Describe() const {
  std::string out =
      fmt::format("librdkafka {}; {} B values, no key, partition = seq % partitions\n",
                  rd_kafka_version_str(), message_bytes);
  out += "producer:";
  for (const auto& [name, value] : ProducerProperties(1)) {
    if (name != "bootstrap.servers" && name != "acks") out += fmt::format(" {}={}", name, value);
  }
  out += "\nconsumer (assign-style, no group: rd_kafka_consume_start_queue + seek):";
  for (const auto& [name, value] : ConsumerProperties()) {
    if (name != "bootstrap.servers") out += fmt::format(" {}={}", name, value);
  }
  return out;
}

bool CreateTopic(const LoadSettings& settings, const std::string& topic, int partitions,
                 bool use_admin_api, std::string& error) {
  Client rk = NewClient(RD_KAFKA_PRODUCER, {{"bootstrap.servers", settings.bootstrap}}, nullptr,
                        nullptr, error);
  if (!rk) return false;
  if (use_admin_api) {
    std::array<char, 512> errstr{};
    rd_kafka_NewTopic_t* new_topic =
        rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, errstr.data(), errstr.size());
    if (new_topic == nullptr) {
      error = fmt::format("NewTopic: {}", errstr.data());
      return false;
    }
    Queue queue(rd_kafka_queue_new(rk.get()));
    rd_kafka_CreateTopics(rk.get(), &new_topic, 1, nullptr, queue.get());
    rd_kafka_NewTopic_destroy(new_topic);
    rd_kafka_event_t* event = rd_kafka_queue_poll(queue.get(), settings.timeout_ms);
    if (event == nullptr) {
      error = "CreateTopics: no answer";
      return false;
    }
    std::string failure;
    if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      failure = rd_kafka_event_error_string(event);
    } else if (const rd_kafka_CreateTopics_result_t* result =
                   rd_kafka_event_CreateTopics_result(event)) {
      size_t count = 0;
      const rd_kafka_topic_result_t** topics = rd_kafka_CreateTopics_result_topics(result, &count);
      for (size_t i = 0; i < count; ++i) {
        rd_kafka_resp_err_t err = rd_kafka_topic_result_error(topics[i]);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
          failure = fmt::format("{}: {}", rd_kafka_err2str(err),
                                rd_kafka_topic_result_error_string(topics[i]));
        }
      }
    }
    rd_kafka_event_destroy(event);
    if (!failure.empty()) {
      error = "CreateTopics " + topic + ": " + failure;
      return false;
    }
  }
  TopicHandle rkt(rd_kafka_topic_new(rk.get(), topic.c_str(), nullptr));
  return AwaitTopic(rk.get(), rkt.get(), partitions, settings.timeout_ms, error);
}

ProduceOutcome Produce(const LoadSettings& settings, const std::string& topic, int partitions,
                       int acks, uint64_t messages, const std::function<void()>& on_start) {
  ProduceOutcome out;
  DeliveryCounts counts;
  Client rk = NewClient(RD_KAFKA_PRODUCER, settings.ProducerProperties(acks), SetDeliveryCallback,
                        &counts, out.error);
  if (!rk) return out;
  TopicHandle rkt(rd_kafka_topic_new(rk.get(), topic.c_str(), nullptr));
  if (!AwaitTopic(rk.get(), rkt.get(), partitions, settings.timeout_ms, out.error)) return out;

  std::vector<char> value(settings.message_bytes);
  for (size_t i = 0; i < value.size(); ++i) value[i] = static_cast<char>('a' + i % 26);
  on_start();
  const auto start = Clock::now();
  for (uint64_t seq = 0; seq < messages; ++seq) {
    StoreSequence(value.data(), seq);
    const auto partition = static_cast<int32_t>(seq % static_cast<uint64_t>(partitions));
    for (;;) {
      // RD_KAFKA_MSG_F_COPY: librdkafka copies the value, as an application's buffer would be.
      rd_kafka_resp_err_t err =
          rd_kafka_producev(rk.get(), RD_KAFKA_V_RKT(rkt.get()), RD_KAFKA_V_PARTITION(partition),
                            RD_KAFKA_V_VALUE(value.data(), value.size()),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        out.error = fmt::format("produce: {}", rd_kafka_err2str(err));
        return out;
      }
      rd_kafka_poll(rk.get(), 1);  // the queue is full: serve delivery reports
      if (SecondsSince(start) * 1000 > settings.timeout_ms + 60000.0) {
        out.error = "produce: the queue stayed full";
        return out;
      }
    }
    if ((seq & 1023) == 0) rd_kafka_poll(rk.get(), 0);
  }
  // message.timeout.ms bounds every message, so flush ends; the loop only guards the bound.
  while (rd_kafka_outq_len(rk.get()) > 0 &&
         SecondsSince(start) * 1000 < settings.timeout_ms + 60000.0) {
    rd_kafka_flush(rk.get(), 1000);
  }
  out.seconds = SecondsSince(start);
  out.acked = counts.acked;
  out.failed = counts.failed;
  out.bytes = counts.bytes;
  for (int p = 0; p < partitions; ++p) {
    int64_t low = -1;
    int64_t high = -1;
    rd_kafka_resp_err_t err =
        rd_kafka_query_watermark_offsets(rk.get(), topic.c_str(), p, &low, &high, 10000);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      out.error = fmt::format("watermarks of {}/{}: {}", topic, p, rd_kafka_err2str(err));
      return out;
    }
    out.log_end_sum += static_cast<uint64_t>(high);
  }
  if (counts.failed > 0) {
    out.error = fmt::format("{} of {} messages failed, first: {}", counts.failed, messages,
                            counts.first_error);
  } else if (counts.acked != messages) {
    out.error = fmt::format("{} of {} messages acknowledged", counts.acked, messages);
  } else if (out.log_end_sum != messages) {
    out.error = fmt::format("{} messages acknowledged but the partitions end at {} in all",
                            messages, out.log_end_sum);
  } else {
    out.ok = true;
  }
  return out;
}

ConsumeOutcome Consume(const LoadSettings& settings, const std::string& topic, int partitions,
                       uint64_t messages, uint64_t passes, const std::function<void()>& on_start) {
  ConsumeOutcome out;
  Client rk =
      NewClient(RD_KAFKA_CONSUMER, settings.ConsumerProperties(), nullptr, nullptr, out.error);
  if (!rk) return out;
  TopicHandle rkt(rd_kafka_topic_new(rk.get(), topic.c_str(), nullptr));
  if (!AwaitTopic(rk.get(), rkt.get(), partitions, settings.timeout_ms, out.error)) return out;
  Queue queue(rd_kafka_queue_new(rk.get()));

  PassCheck check{settings.message_bytes, partitions, messages, topic, out};
  on_start();
  const auto start = Clock::now();
  for (int p = 0; p < partitions; ++p) {
    if (rd_kafka_consume_start_queue(rkt.get(), p, 0, queue.get()) != 0) {
      out.error =
          fmt::format("consume_start {}/{}: {}", topic, p, rd_kafka_err2str(rd_kafka_last_error()));
      return out;
    }
  }
  auto last_progress = Clock::now();
  while (out.passes < passes && out.error.empty()) {
    // The callback form returns as soon as messages are there; the batch form would wait for a
    // full batch or its timeout, which would stall the end of every pass.
    int n = rd_kafka_consume_callback_queue(queue.get(), 100, PassCheck::OnMessage, &check);
    if (n < 0) {
      out.error = fmt::format("consume: {}", rd_kafka_err2str(rd_kafka_last_error()));
      break;
    }
    if (n > 0) last_progress = Clock::now();
    if (out.error.empty() && check.pass_messages == messages) {
      // Every sequence number came back once (no duplicates and the count adds up).
      ++out.passes;
      ++check.pass;
      check.pass_messages = 0;
      if (out.passes == passes) break;
      for (int p = 0; p < partitions && out.error.empty(); ++p) {
        rd_kafka_resp_err_t err = rd_kafka_seek(rkt.get(), p, 0, settings.timeout_ms);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
          out.error = fmt::format("seek {}/{}: {}", topic, p, rd_kafka_err2str(err));
        }
      }
    }
    if (SecondsSince(last_progress) * 1000 > settings.timeout_ms) {
      out.error = fmt::format("no message for {} ms in pass {} ({} of {} back)",
                              settings.timeout_ms, check.pass, check.pass_messages, messages);
    }
  }
  out.seconds = SecondsSince(start);
  for (int p = 0; p < partitions; ++p) rd_kafka_consume_stop(rkt.get(), p);
  out.ok = out.error.empty() && out.passes == passes;
  return out;
}

}  // namespace runnel::bench
