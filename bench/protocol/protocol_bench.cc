// runnel-protocol-bench: what the generated codecs cost on the data path.
//
// For a Produce request (decode, as the broker receives it, then re-encode) and a Fetch
// response (encode, as the broker sends it, then decode, as a client would) carrying 1 MiB of
// records spread over P partitions, it prints the time per message and per partition and the
// bytes copied: records are views into the input buffer on decode and borrowed slices on
// encode, so only header bytes should be copied. Measures and prints; never passes or fails.
//   build/bin/runnel-protocol-bench [iterations]
#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "broker/protocol/gen/fetch_response.h"
#include "broker/protocol/gen/produce_request.h"
#include "broker/protocol/request.h"

namespace runnel::protocol {
namespace {

constexpr size_t kRecordsBytesTotal = 1 << 20;
constexpr int16_t kProduceVersion = 9;  // flexible (compact) encodings
constexpr int16_t kFetchVersion = 12;

using Clock = std::chrono::steady_clock;

double NsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::nano>(Clock::now() - start).count();
}

template <typename T>
T Decode(std::span<const uint8_t> bytes, int16_t version) {
  Reader r(bytes);
  Result<T> x = T::Decode(version, r);
  if (!x.ok()) {
    fmt::print(stderr, "decode failed: {}\n", x.status().ToString());
    std::exit(1);
  }
  return std::move(x).value();
}

void Check(const Status& st) {
  if (!st.ok()) {
    fmt::print(stderr, "encode failed: {}\n", st.ToString());
    std::exit(1);
  }
}

struct Figures {
  double decode_ns = 0;
  double encode_ns = 0;
  size_t message_bytes = 0;
  size_t copied_on_encode = 0;
  size_t borrowed_on_encode = 0;
  size_t copied_on_decode = 0;  // bytes materialised into owned memory (strings, vectors)
  size_t header_bytes = 0;      // message size minus records
};

void Print(const char* what, int partitions, const Figures& f) {
  fmt::print("{:<16} {:>5} {:>10} {:>10.2f} {:>10.2f} {:>10.3f} {:>10.3f} {:>9} {:>9} {:>10}\n",
             what, partitions, f.message_bytes, f.decode_ns / 1000, f.encode_ns / 1000,
             f.decode_ns / partitions / 1000, f.encode_ns / partitions / 1000, f.header_bytes,
             f.copied_on_encode, f.borrowed_on_encode);
}

Figures BenchProduce(int partitions, int iterations, const std::vector<uint8_t>& records) {
  ProduceRequest req;
  req.acks = -1;
  req.timeout_ms = 30000;
  auto& topic = req.topic_data.emplace_back();
  topic.name = "bench-topic";
  size_t per = records.size() / static_cast<size_t>(partitions);
  for (int p = 0; p < partitions; ++p) {
    auto& part = topic.partition_data.emplace_back();
    part.index = p;
    part.records = RecordsView::Of(std::span(records).subspan(static_cast<size_t>(p) * per, per));
  }
  Writer w;
  Check(req.Encode(kProduceVersion, w));
  const std::vector<uint8_t> wire = w.Flatten();  // the request as received from a socket

  Figures f;
  f.message_bytes = wire.size();
  f.header_bytes = wire.size() - per * static_cast<size_t>(partitions);
  auto start = Clock::now();
  for (int i = 0; i < iterations; ++i) {
    ProduceRequest x = Decode<ProduceRequest>(wire, kProduceVersion);
    if (x.topic_data[0].partition_data.size() != static_cast<size_t>(partitions)) std::abort();
  }
  f.decode_ns = NsSince(start) / iterations;
  ProduceRequest decoded = Decode<ProduceRequest>(wire, kProduceVersion);
  f.copied_on_decode = decoded.topic_data[0].name.size();
  start = Clock::now();
  size_t copied = 0;
  size_t borrowed = 0;
  for (int i = 0; i < iterations; ++i) {
    Writer out(decoded.Size(kProduceVersion) - per * static_cast<size_t>(partitions) + 64);
    Check(decoded.Encode(kProduceVersion, out));
    copied = out.bytes_copied();
    borrowed = out.bytes_borrowed();
  }
  f.encode_ns = NsSince(start) / iterations;
  f.copied_on_encode = copied;
  f.borrowed_on_encode = borrowed;
  return f;
}

Figures BenchFetch(int partitions, int iterations, const std::vector<uint8_t>& records) {
  FetchResponse resp;
  resp.session_id = 7;
  auto& topic = resp.responses.emplace_back();
  topic.topic = "bench-topic";
  size_t per = records.size() / static_cast<size_t>(partitions);
  for (int p = 0; p < partitions; ++p) {
    auto& part = topic.partitions.emplace_back();
    part.partition_index = p;
    part.high_watermark = 1000000 + p;
    part.last_stable_offset = 1000000 + p;
    part.log_start_offset = 0;
    part.records = RecordsView::Of(std::span(records).subspan(static_cast<size_t>(p) * per, per));
  }
  Figures f;
  size_t copied = 0;
  size_t borrowed = 0;
  auto start = Clock::now();
  for (int i = 0; i < iterations; ++i) {
    Writer out(256 + 64 * static_cast<size_t>(partitions));
    Check(resp.Encode(kFetchVersion, out));
    copied = out.bytes_copied();
    borrowed = out.bytes_borrowed();
  }
  f.encode_ns = NsSince(start) / iterations;
  f.copied_on_encode = copied;
  f.borrowed_on_encode = borrowed;
  Writer w;
  Check(resp.Encode(kFetchVersion, w));
  const std::vector<uint8_t> wire = w.Flatten();
  f.message_bytes = wire.size();
  f.header_bytes = wire.size() - per * static_cast<size_t>(partitions);
  start = Clock::now();
  for (int i = 0; i < iterations; ++i) {
    FetchResponse x = Decode<FetchResponse>(wire, kFetchVersion);
    if (x.responses[0].partitions.size() != static_cast<size_t>(partitions)) std::abort();
  }
  f.decode_ns = NsSince(start) / iterations;
  return f;
}

}  // namespace
}  // namespace runnel::protocol

int main(int argc, char** argv) {
  using namespace runnel::protocol;
  int iterations = argc > 1 ? std::atoi(argv[1]) : 2000;
  std::vector<uint8_t> records(kRecordsBytesTotal);
  for (size_t i = 0; i < records.size(); ++i) records[i] = static_cast<uint8_t>(i * 131);
  fmt::print(
      "1 MiB of records per message, {} iterations; times are per message (us) and per "
      "partition (us)\n",
      iterations);
  fmt::print("{:<16} {:>5} {:>10} {:>10} {:>10} {:>10} {:>10} {:>9} {:>9} {:>10}\n", "message",
             "parts", "bytes", "decode_us", "encode_us", "dec_us/p", "enc_us/p", "hdr_bytes",
             "copied", "borrowed");
  for (int partitions : {1, 10, 100, 1000}) {
    Print("Produce v9 req", partitions, BenchProduce(partitions, iterations, records));
  }
  for (int partitions : {1, 10, 100, 1000}) {
    Print("Fetch v12 resp", partitions, BenchFetch(partitions, iterations, records));
  }
  fmt::print(
      "copied = bytes the encoder wrote into its own buffer (the header); borrowed = "
      "records passed through as slices of the caller's memory. Decoding never copies "
      "records: they are views into the input buffer.\n");
  return 0;
}
