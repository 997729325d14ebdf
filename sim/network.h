// SimNetwork: the simulated TCP network between simulated nodes, the twin of io_uring sockets.
//
// Model (one SimNetwork per SimWorld, on the one sim thread):
// - Node N has the address "10.0.0.N"; 127.x.x.x and 0.0.0.0 mean the node itself. Hosts must
//   be IPv4 literals (a name such as "localhost" is kInvalidArgument, as in production). Listen
//   binds (node, port); port 0 picks a free ephemeral port. With reuse_port several listeners
//   share a port and each connection goes to one of them at random.
// - Connect sends a SYN after a latency: no listener → kRefused; target down or partitioned
//   either way → kTimeout after NetOptions::connect_timeout; unknown host → kRefused.
// - A connection is two ordered byte streams. Sent bytes are cut into random chunks, each
//   delivered after a random latency, never reordered within a stream. A stream holds at most
//   window_bytes sent-but-unread bytes; Send waits for room (back-pressure).
// - A partition blocks one direction (or both) between two nodes: chunks due in a blocked
//   direction wait (TCP retransmits) and are delivered after Heal; nothing is lost or
//   reordered. A partition does not reset connections by itself (ResetConnections does).
// - A reset (fault, or a node going down) makes every pending and later operation on both ends
//   fail with kClosed and discards undelivered and unread bytes.
// - Close sends end-of-stream after the bytes already sent; bytes that later arrive at a closed
//   socket reset the connection (the sender sees kClosed), like a TCP RST.
// - SendFile reads the region from the sender's SimDisk (with its latency and faults) and
//   sends it like Send.
// Faults are off by default.
#pragma once

#include <coroutine>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "io/clock.h"
#include "io/net.h"
#include "io/rng.h"
#include "io/shards.h"

namespace runnel::sim {

class SimWorld;

struct NetFaults {
  double reset_probability = 0;  // per Send call: the connection resets
  double spike_probability = 0;  // per chunk: latency up to spike_latency_max instead
  Duration spike_latency_max = std::chrono::milliseconds(200);
  bool any() const { return reset_probability > 0 || spike_probability > 0; }
};

struct NetOptions {
  Duration latency_min = std::chrono::microseconds(50);
  Duration latency_max = std::chrono::microseconds(1000);
  Duration loopback_latency_min = std::chrono::microseconds(2);
  Duration loopback_latency_max = std::chrono::microseconds(50);
  size_t chunk_bytes_max = 16 * 1024;
  size_t window_bytes = 256 * 1024;
  Duration connect_timeout = std::chrono::seconds(1);
  uint16_t ephemeral_port_min = 40000;
  NetFaults faults{};
};

struct NetStats {
  uint64_t connects = 0;
  uint64_t refused = 0;
  uint64_t connect_timeouts = 0;
  uint64_t accepted = 0;
  uint64_t chunks = 0;
  uint64_t bytes = 0;
  uint64_t resets = 0;
  uint64_t held_deliveries = 0;  // deliveries that waited for a partition to heal
};

class SimNetwork {
 public:
  SimNetwork(SimWorld& world, uint64_t seed, NetOptions options = {});
  ~SimNetwork();
  SimNetwork(const SimNetwork&) = delete;
  SimNetwork& operator=(const SimNetwork&) = delete;

  // Blocks traffic from `a` to `b`, and from `b` to `a` unless one_way.
  void Partition(uint32_t a, uint32_t b, bool one_way = false);
  // Unblocks both directions between a and b; held chunks are delivered.
  void Heal(uint32_t a, uint32_t b);
  void HealAll();
  // Blocks `a` from every other node (both ways) up to node_count.
  void Isolate(uint32_t a, uint32_t node_count);
  bool Blocked(uint32_t from, uint32_t to) const;
  bool partitioned() const { return !blocked_.empty(); }

  // Resets every connection between a and b (b = 0: every connection of a). Returns how many.
  size_t ResetConnections(uint32_t a, uint32_t b = 0);

  void SetFaults(const NetFaults& faults) { options_.faults = faults; }
  const NetOptions& options() const { return options_; }
  const NetStats& stats() const { return stats_; }
  size_t connections() const { return conns_.size(); }
  size_t listeners() const { return listeners_.size(); }

  // Resolves an IPv4 literal to a node: 127.x.x.x and 0.0.0.0 are `self`, 10.0.0.N is node N,
  // any other literal is 0 (no such host). A name that is not a literal is kInvalidArgument,
  // as in production.
  Result<uint32_t> ResolveHost(const std::string& host, uint32_t self) const;

  // --- For SimWorld -----------------------------------------------------------------------
  // The node went down: its waiters are dropped, its connections reset, its listeners closed.
  void NodeDown(uint32_t node);

 private:
  friend class SimSocket;
  friend class SimListener;
  friend class SimNet;

  struct Chunk {
    int64_t arrival_ns = 0;
    std::vector<std::byte> bytes;
    bool fin = false;
  };
  struct End {
    uint32_t node = 0;
    ShardId shard = 0;
    Address local;
    Address peer;
    std::deque<std::byte> inbox;
    bool eof = false;
    bool reset = false;
    bool closed = false;
    bool write_shut = false;
    std::coroutine_handle<> recv_waiter;
    std::coroutine_handle<> send_waiter;
  };
  struct Stream {  // from end[i] to end[1-i]
    std::deque<Chunk> in_flight;
    int64_t last_arrival_ns = 0;
    uint64_t buffered = 0;  // sent, not yet read by the receiver
  };
  struct Conn {
    uint64_t id = 0;
    End end[2];  // [0] the connecting side, [1] the accepting side
    Stream stream[2];
  };
  struct Listener {
    uint64_t id = 0;
    uint32_t node = 0;
    ShardId shard = 0;
    Address local;
    size_t backlog = 0;
    bool reuse_port = false;
    std::deque<uint64_t> queue;  // established connections not yet accepted
    std::coroutine_handle<> waiter;
    bool closed = false;
  };

  Conn* FindConn(uint64_t id);
  Listener* FindListener(uint64_t id);
  Duration Latency(uint32_t from, uint32_t to);
  void Wake(uint32_t node, ShardId shard, std::coroutine_handle<>& h);
  void Transmit(Conn& c, int side, std::span<const std::byte> data, bool fin);
  void ScheduleDelivery(Conn& c, int side, int64_t at_ns);
  void Deliver(uint64_t conn_id, int side);
  void Reset(Conn& c);
  void CloseEnd(uint64_t conn_id, int side);
  void MaybeErase(uint64_t conn_id);
  void CloseListener(uint64_t id);
  uint16_t EphemeralPort(uint32_t node);

  SimWorld& world_;
  NetOptions options_;
  Rng rng_;
  NetStats stats_;
  std::set<std::pair<uint32_t, uint32_t>> blocked_;
  std::map<uint64_t, std::unique_ptr<Conn>> conns_;
  std::map<uint64_t, Listener> listeners_;
  std::map<std::pair<uint32_t, uint16_t>, std::vector<uint64_t>> ports_;  // -> listener ids
  std::map<uint32_t, uint16_t> next_port_;
};

// The Network one shard of one node sees.
class SimNet final : public Network {
 public:
  SimNet(SimNetwork& net, uint32_t node, ShardId shard) : net_(net), node_(node), shard_(shard) {}
  Task<Result<std::unique_ptr<Listener>>> Listen(const Address& addr,
                                                 ListenOptions opts = {}) override;
  Task<Result<std::unique_ptr<Socket>>> Connect(const Address& addr) override;

 private:
  SimNetwork& net_;
  const uint32_t node_;
  const ShardId shard_;
};

// One end of a simulated connection. Belongs to the shard that connected or accepted it.
class SimSocket final : public Socket {
 public:
  SimSocket(SimNetwork& net, uint64_t conn, int side, uint32_t node, ShardId shard, Address local,
            Address peer);
  ~SimSocket() override;
  Task<Result<size_t>> Recv(std::span<std::byte> buf) override;
  Task<Status> Send(std::span<const std::byte> data) override;
  Task<Status> SendFile(File& file, uint64_t offset, uint64_t len) override;
  Task<Status> ShutdownWrite() override;
  Task<Status> Close() override;
  const Address& peer() const override { return peer_; }
  const Address& local() const override { return local_; }
  uint64_t connection_id() const { return conn_; }

 private:
  Status Check(SimNetwork::End** end);

  SimNetwork& net_;
  const uint64_t conn_;
  const int side_;
  const uint32_t node_;
  const ShardId shard_;
  const Address local_;
  const Address peer_;
};

class SimListener final : public Listener {
 public:
  SimListener(SimNetwork& net, uint64_t id, ShardId shard, Address local)
      : net_(net), id_(id), shard_(shard), local_(std::move(local)) {}
  ~SimListener() override;
  Task<Result<std::unique_ptr<Socket>>> Accept() override;
  const Address& local() const override { return local_; }
  Task<Status> Close() override;

 private:
  SimNetwork& net_;
  const uint64_t id_;
  const ShardId shard_;
  const Address local_;
};

}  // namespace runnel::sim
