// The load client of runnel-bench: librdkafka producing fixed-size messages and consuming them
// back, the same code and the same settings against every broker. Runs in the calling process
// (the brokers are other processes, so their CPU is measured apart from this one's).
//
// Every message carries its sequence number in its first 8 bytes (little-endian) and goes to
// partition `seq % partitions`, so the consumer checks that each one came back exactly once.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace runnel::bench {

// Client settings, identical for every broker; Describe() prints them.
struct LoadSettings {
  std::string bootstrap;                     // host:port
  uint32_t message_bytes = 1024;             // value size (no key)
  int linger_ms = 5;                         // linger.ms
  uint32_t batch_bytes = 1 << 20;            // batch.size (and message.max.bytes, which caps it)
  int fetch_wait_ms = 0;                     // fetch.wait.max.ms (see README: the window)
  uint32_t partition_fetch_bytes = 1 << 20;  // max.partition.fetch.bytes
  int timeout_ms = 120000;                   // any single wait (delivery, a consume pass) gives up

  // The librdkafka properties set on the producer / consumer, as "name=value" pairs.
  std::vector<std::pair<std::string, std::string>> ProducerProperties(int acks) const;
  std::vector<std::pair<std::string, std::string>> ConsumerProperties() const;
  std::string Describe() const;
};

struct ProduceOutcome {
  bool ok = false;
  std::string error;         // the first failure, when !ok
  uint64_t acked = 0;        // delivery reports without error
  uint64_t failed = 0;       // delivery reports with an error
  uint64_t bytes = 0;        // value bytes acked
  uint64_t log_end_sum = 0;  // sum over partitions of the high watermark afterwards
  double seconds = 0;        // first produce call to the last delivery report
};

struct ConsumeOutcome {
  bool ok = false;
  std::string error;
  uint64_t messages = 0;  // over all passes
  uint64_t bytes = 0;     // value bytes over all passes
  uint64_t passes = 0;
  double seconds = 0;  // first assign to the last message of the last pass
};

// Creates `topic` with `partitions` partitions through the Admin API (CreateTopics) unless it
// exists, then waits until Metadata shows it with that many partitions.
bool CreateTopic(const LoadSettings& settings, const std::string& topic, int partitions,
                 bool use_admin_api, std::string& error);

// Produces `messages` messages (sequence numbers 0..messages-1) to `topic` with acks 1 or -1
// (all) and waits for every delivery report. `on_start` runs just before the first message is
// handed to librdkafka (the producer is connected and has the topic's metadata by then).
ProduceOutcome Produce(const LoadSettings& settings, const std::string& topic, int partitions,
                       int acks, uint64_t messages, const std::function<void()>& on_start);

// Reads `topic` (produced by Produce with `messages` messages) from offset 0 to its end,
// `passes` times, with assign() and no group. Every pass must return every sequence number
// exactly once with the right size and partition.
ConsumeOutcome Consume(const LoadSettings& settings, const std::string& topic, int partitions,
                       uint64_t messages, uint64_t passes, const std::function<void()>& on_start);

}  // namespace runnel::bench
