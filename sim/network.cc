#include "sim/network.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <charconv>

#include "sim/disk.h"
#include "sim/world.h"

namespace runnel::sim {
namespace {

// Parks a coroutine in a waiter slot; whoever fills the slot's purpose clears it and makes the
// coroutine ready again (SimNetwork::Wake).
struct Park {
  std::coroutine_handle<>* slot;
  bool await_ready() noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) noexcept { *slot = h; }
  void await_resume() noexcept {}
};

// Parses a dotted-quad IPv4 literal (what production's inet_pton accepts).
bool ParseIpv4(const std::string& host, uint8_t out[4]) {
  const char* p = host.data();
  const char* end = host.data() + host.size();
  for (int i = 0; i < 4; i++) {
    if (i > 0) {
      if (p == end || *p != '.') return false;
      p++;
    }
    unsigned v = 0;
    auto [next, ec] = std::from_chars(p, end, v);
    if (ec != std::errc() || next == p || next - p > 3 || v > 255) return false;
    out[i] = static_cast<uint8_t>(v);
    p = next;
  }
  return p == end;
}

}  // namespace

SimNetwork::SimNetwork(SimWorld& world, uint64_t seed, NetOptions options)
    : world_(world), options_(options), rng_(seed) {}

SimNetwork::~SimNetwork() = default;

Result<uint32_t> SimNetwork::ResolveHost(const std::string& host, uint32_t self) const {
  uint8_t ip[4];
  if (!ParseIpv4(host, ip)) {
    return Status::InvalidArgument(fmt::format("'{}' is not an IPv4 address literal", host));
  }
  if (ip[0] == 127 || (ip[0] == 0 && ip[1] == 0 && ip[2] == 0 && ip[3] == 0)) return self;
  if (ip[0] == 10 && ip[1] == 0 && ip[2] == 0 && ip[3] >= 1 && ip[3] <= world_.node_count()) {
    return uint32_t{ip[3]};
  }
  return uint32_t{0};
}

void SimNetwork::Partition(uint32_t a, uint32_t b, bool one_way) {
  if (a == b) return;
  world_.TraceNote(fmt::format("partition {} {} {}", a, one_way ? "->" : "<->", b));
  blocked_.insert({a, b});
  if (!one_way) blocked_.insert({b, a});
}

void SimNetwork::Heal(uint32_t a, uint32_t b) {
  world_.TraceNote(fmt::format("heal {} <-> {}", a, b));
  blocked_.erase({a, b});
  blocked_.erase({b, a});
  for (auto& [id, c] : conns_) {
    for (int side = 0; side < 2; side++) {
      const uint32_t from = c->end[side].node;
      const uint32_t to = c->end[1 - side].node;
      if (((from == a && to == b) || (from == b && to == a)) &&
          !c->stream[side].in_flight.empty()) {
        ScheduleDelivery(*c, side, world_.now_ns() + Latency(from, to).count());
      }
    }
  }
}

void SimNetwork::HealAll() {
  world_.TraceNote("heal all");
  blocked_.clear();
  for (auto& [id, c] : conns_) {
    for (int side = 0; side < 2; side++) {
      if (!c->stream[side].in_flight.empty()) {
        ScheduleDelivery(
            *c, side, world_.now_ns() + Latency(c->end[side].node, c->end[1 - side].node).count());
      }
    }
  }
}

void SimNetwork::Isolate(uint32_t a, uint32_t node_count) {
  for (uint32_t b = 1; b <= node_count; b++) {
    if (b != a) Partition(a, b);
  }
}

bool SimNetwork::Blocked(uint32_t from, uint32_t to) const {
  return from != to && blocked_.count({from, to}) > 0;
}

size_t SimNetwork::ResetConnections(uint32_t a, uint32_t b) {
  size_t n = 0;
  for (auto& [id, c] : conns_) {
    const uint32_t x = c->end[0].node;
    const uint32_t y = c->end[1].node;
    const bool match = b == 0 ? (x == a || y == a) : ((x == a && y == b) || (x == b && y == a));
    if (match && !c->end[0].reset) {
      Reset(*c);
      n++;
    }
  }
  if (n > 0) world_.TraceNote(fmt::format("reset {} connections of {} and {}", n, a, b));
  return n;
}

SimNetwork::Conn* SimNetwork::FindConn(uint64_t id) {
  auto it = conns_.find(id);
  return it == conns_.end() ? nullptr : it->second.get();
}

SimNetwork::Listener* SimNetwork::FindListener(uint64_t id) {
  auto it = listeners_.find(id);
  return it == listeners_.end() ? nullptr : &it->second;
}

Duration SimNetwork::Latency(uint32_t from, uint32_t to) {
  const NetFaults& f = options_.faults;
  if (rng_.Chance(f.spike_probability)) {
    return Duration(rng_.Range(options_.latency_max.count(),
                               std::max(options_.latency_max, f.spike_latency_max).count()));
  }
  if (from == to) {
    return Duration(
        rng_.Range(options_.loopback_latency_min.count(), options_.loopback_latency_max.count()));
  }
  return Duration(rng_.Range(options_.latency_min.count(), options_.latency_max.count()));
}

void SimNetwork::Wake(uint32_t node, ShardId shard, std::coroutine_handle<>& h) {
  if (!h) return;
  std::coroutine_handle<> waiter = std::exchange(h, {});
  world_.MakeReady(node, shard, waiter);
}

void SimNetwork::Transmit(Conn& c, int side, std::span<const std::byte> data, bool fin) {
  Stream& s = c.stream[side];
  const uint32_t from = c.end[side].node;
  const uint32_t to = c.end[1 - side].node;
  size_t at = 0;
  do {
    const size_t left = data.size() - at;
    const size_t n =
        left == 0 ? 0
                  : std::min(left, static_cast<size_t>(1 + rng_.Uniform(options_.chunk_bytes_max)));
    Chunk chunk;
    chunk.bytes.assign(data.begin() + at, data.begin() + at + n);
    chunk.fin = fin && at + n == data.size();
    const int64_t arrival =
        std::max(world_.now_ns() + Latency(from, to).count(), s.last_arrival_ns);
    s.last_arrival_ns = arrival;
    chunk.arrival_ns = arrival;
    s.in_flight.push_back(std::move(chunk));
    s.buffered += n;
    stats_.chunks++;
    stats_.bytes += n;
    ScheduleDelivery(c, side, arrival);
    at += n;
  } while (at < data.size());
}

void SimNetwork::ScheduleDelivery(Conn& c, int side, int64_t at_ns) {
  const End& to = c.end[1 - side];
  const uint64_t id = c.id;
  world_.ScheduleAt(at_ns, to.node, to.shard, EventKind::kNet, id,
                    [this, id, side] { Deliver(id, side); });
}

void SimNetwork::Deliver(uint64_t conn_id, int side) {
  Conn* c = FindConn(conn_id);
  if (c == nullptr) return;
  Stream& s = c->stream[side];
  End& to = c->end[1 - side];
  if (to.reset) return;
  const int64_t now = world_.now_ns();
  if (s.in_flight.empty() || s.in_flight.front().arrival_ns > now) return;
  if (Blocked(c->end[side].node, to.node)) {
    // TCP keeps retransmitting; Heal schedules the delivery again.
    stats_.held_deliveries++;
    return;
  }
  while (!s.in_flight.empty() && s.in_flight.front().arrival_ns <= now) {
    Chunk chunk = std::move(s.in_flight.front());
    s.in_flight.pop_front();
    if (to.closed) {
      s.buffered -= chunk.bytes.size();
      if (!chunk.bytes.empty()) {
        // Data for a closed socket: the receiving host answers with a reset.
        Reset(*c);
        MaybeErase(conn_id);
        return;
      }
      continue;
    }
    to.inbox.insert(to.inbox.end(), chunk.bytes.begin(), chunk.bytes.end());
    if (chunk.fin) to.eof = true;
  }
  Wake(to.node, to.shard, to.recv_waiter);
  MaybeErase(conn_id);
}

void SimNetwork::Reset(Conn& c) {
  stats_.resets++;
  for (int i = 0; i < 2; i++) {
    End& e = c.end[i];
    e.reset = true;
    e.inbox.clear();
    c.stream[i].in_flight.clear();
    c.stream[i].buffered = 0;
  }
  for (int i = 0; i < 2; i++) {
    End& e = c.end[i];
    Wake(e.node, e.shard, e.recv_waiter);
    Wake(e.node, e.shard, e.send_waiter);
  }
}

void SimNetwork::CloseEnd(uint64_t conn_id, int side) {
  Conn* c = FindConn(conn_id);
  if (c == nullptr) return;
  End& e = c->end[side];
  if (e.closed) return;
  e.closed = true;
  if (!e.reset) {
    if (!e.inbox.empty()) {
      // Closing with unread bytes sends a reset, not an end of stream (as Linux does).
      Reset(*c);
    } else if (!e.write_shut) {
      e.write_shut = true;
      Transmit(*c, side, {}, true);
    }
  }
  e.inbox.clear();
  Wake(e.node, e.shard, e.recv_waiter);
  Wake(e.node, e.shard, e.send_waiter);
  MaybeErase(conn_id);
}

void SimNetwork::MaybeErase(uint64_t conn_id) {
  auto it = conns_.find(conn_id);
  if (it == conns_.end()) return;
  const Conn& c = *it->second;
  if (!c.end[0].closed || !c.end[1].closed) return;
  RUNNEL_ASSERT(!c.end[0].recv_waiter && !c.end[0].send_waiter && !c.end[1].recv_waiter &&
                    !c.end[1].send_waiter,
                "connection {} erased with waiters", conn_id);
  conns_.erase(it);
}

void SimNetwork::CloseListener(uint64_t id) {
  Listener* l = FindListener(id);
  if (l == nullptr) return;
  l->closed = true;
  Wake(l->node, l->shard, l->waiter);
  for (uint64_t conn_id : l->queue) {
    if (Conn* c = FindConn(conn_id)) {
      if (!c->end[1].reset) Reset(*c);
      c->end[1].closed = true;
      MaybeErase(conn_id);
    }
  }
  l->queue.clear();
  auto port = ports_.find({l->node, l->local.port});
  if (port != ports_.end()) {
    std::erase(port->second, id);
    if (port->second.empty()) ports_.erase(port);
  }
  listeners_.erase(id);
}

uint16_t SimNetwork::EphemeralPort(uint32_t node) {
  auto [it, inserted] = next_port_.emplace(node, options_.ephemeral_port_min);
  for (int tries = 0; tries < 65536; tries++) {
    uint16_t port = it->second;
    it->second = port == 65535 ? options_.ephemeral_port_min : static_cast<uint16_t>(port + 1);
    if (ports_.count({node, port}) == 0) return port;
  }
  RUNNEL_UNREACHABLE("node {} ran out of ports", node);
}

void SimNetwork::NodeDown(uint32_t node) {
  std::vector<uint64_t> done;
  for (auto& [id, c] : conns_) {
    bool involved = false;
    for (End& e : c->end) {
      if (e.node != node) continue;
      involved = true;
      // Their frames are about to be destroyed: forget them, never resume them.
      e.recv_waiter = {};
      e.send_waiter = {};
    }
    if (!involved) continue;
    if (!c->end[0].reset) Reset(*c);
    for (End& e : c->end) {
      if (e.node == node) e.closed = true;
    }
    if (c->end[0].closed && c->end[1].closed) done.push_back(id);
  }
  for (uint64_t id : done) MaybeErase(id);
  std::vector<uint64_t> listeners;
  for (auto& [id, l] : listeners_) {
    if (l.node == node) {
      l.waiter = {};
      listeners.push_back(id);
    }
  }
  for (uint64_t id : listeners) CloseListener(id);
}

// ---------------------------------------------------------------------------------------------
// SimNet

Task<Result<std::unique_ptr<Listener>>> SimNet::Listen(const Address& addr, ListenOptions opts) {
  SimWorld& world = net_.world_;
  co_await world.Delay(node_, shard_, Duration(0), EventKind::kNet);
  Result<uint32_t> host = net_.ResolveHost(addr.host, node_);
  if (!host.ok()) co_return std::move(host).status();
  if (*host != node_) {
    co_return Status::FromErrno(EADDRNOTAVAIL, fmt::format("listen {}", addr.ToString()));
  }
  const uint16_t port = addr.port != 0 ? addr.port : net_.EphemeralPort(node_);
  auto& ids = net_.ports_[{node_, port}];
  for (uint64_t other : ids) {
    if (!opts.reuse_port || !net_.listeners_.at(other).reuse_port) {
      co_return Status::FromErrno(EADDRINUSE, fmt::format("listen {}", addr.ToString()));
    }
  }
  SimNetwork::Listener l;
  l.id = world.NextId();
  l.node = node_;
  l.shard = shard_;
  l.local = Address{addr.host, port};
  l.backlog = static_cast<size_t>(std::max(opts.backlog, 1));
  l.reuse_port = opts.reuse_port;
  const uint64_t id = l.id;
  Address local = l.local;
  net_.listeners_.emplace(id, std::move(l));
  ids.push_back(id);
  co_return std::unique_ptr<Listener>(std::make_unique<SimListener>(net_, id, shard_, local));
}

Task<Result<std::unique_ptr<Socket>>> SimNet::Connect(const Address& addr) {
  SimWorld& world = net_.world_;
  net_.stats_.connects++;
  const std::string what = fmt::format("connect {}", addr.ToString());
  Result<uint32_t> resolved = net_.ResolveHost(addr.host, node_);
  if (!resolved.ok()) co_return std::move(resolved).status();
  const uint32_t to = *resolved;
  if (to == 0) {
    co_await world.Delay(node_, shard_, net_.Latency(node_, node_), EventKind::kNet);
    net_.stats_.refused++;
    co_return Status::FromErrno(EHOSTUNREACH, what);
  }
  auto timeout = [&]() -> Status {
    net_.stats_.connect_timeouts++;
    return Status::FromErrno(ETIMEDOUT, what);
  };
  if (net_.Blocked(node_, to) || !world.up(to)) {
    co_await world.Delay(node_, shard_, net_.options_.connect_timeout, EventKind::kNet);
    co_return timeout();
  }
  // The SYN travels.
  co_await world.Delay(node_, shard_, net_.Latency(node_, to), EventKind::kNet);
  if (net_.Blocked(node_, to) || !world.up(to)) {
    co_await world.Delay(node_, shard_, net_.options_.connect_timeout, EventKind::kNet);
    co_return timeout();
  }
  std::vector<uint64_t> open;
  if (auto it = net_.ports_.find({to, addr.port}); it != net_.ports_.end()) {
    for (uint64_t id : it->second) {
      const SimNetwork::Listener* l = net_.FindListener(id);
      if (l != nullptr && !l->closed && l->queue.size() < l->backlog) open.push_back(id);
    }
  }
  if (open.empty()) {
    co_await world.Delay(node_, shard_, net_.Latency(to, node_), EventKind::kNet);
    net_.stats_.refused++;
    co_return Status::FromErrno(ECONNREFUSED, what);
  }
  if (net_.Blocked(to, node_)) {
    // The SYN-ACK is lost; the client gives up.
    co_await world.Delay(node_, shard_, net_.options_.connect_timeout, EventKind::kNet);
    co_return timeout();
  }
  const uint64_t listener_id = open.size() == 1 ? open[0] : open[net_.rng_.Uniform(open.size())];
  SimNetwork::Listener& l = *net_.FindListener(listener_id);
  auto conn = std::make_unique<SimNetwork::Conn>();
  conn->id = world.NextId();
  SimNetwork::End& client = conn->end[0];
  SimNetwork::End& server = conn->end[1];
  client.node = node_;
  client.shard = shard_;
  client.local = Address{
      to == node_ && addr.host != world.AddressOf(node_) ? "127.0.0.1" : world.AddressOf(node_),
      net_.EphemeralPort(node_)};
  client.peer = addr;
  server.node = to;
  server.shard = l.shard;
  server.local = Address{addr.host, addr.port};
  server.peer = client.local;
  const uint64_t conn_id = conn->id;
  const Address local = client.local;
  net_.conns_.emplace(conn_id, std::move(conn));
  l.queue.push_back(conn_id);
  net_.Wake(l.node, l.shard, l.waiter);
  // The SYN-ACK travels back.
  co_await world.Delay(node_, shard_, net_.Latency(to, node_), EventKind::kNet);
  SimNetwork::Conn* c = net_.FindConn(conn_id);
  if (c == nullptr || c->end[0].reset) {
    if (c != nullptr) {
      c->end[0].closed = true;
      net_.MaybeErase(conn_id);
    }
    co_return Status::FromErrno(ECONNRESET, what);
  }
  co_return std::unique_ptr<Socket>(
      std::make_unique<SimSocket>(net_, conn_id, 0, node_, shard_, local, addr));
}

// ---------------------------------------------------------------------------------------------
// SimListener

SimListener::~SimListener() { net_.CloseListener(id_); }

Task<Result<std::unique_ptr<Socket>>> SimListener::Accept() {
  SimWorld& world = net_.world_;
  {
    const SimNetwork::Listener* l = net_.FindListener(id_);
    if (l == nullptr)
      co_return Status::Closed(fmt::format("listener {} closed", local_.ToString()));
    co_await world.Delay(l->node, shard_, Duration(0), EventKind::kNet);
  }
  for (;;) {
    SimNetwork::Listener* l = net_.FindListener(id_);
    if (l == nullptr || l->closed) {
      co_return Status::Closed(fmt::format("listener {} closed", local_.ToString()));
    }
    if (!l->queue.empty()) {
      const uint64_t conn_id = l->queue.front();
      l->queue.pop_front();
      SimNetwork::Conn* c = net_.FindConn(conn_id);
      if (c == nullptr) continue;
      SimNetwork::End& server = c->end[1];
      server.shard = shard_;
      net_.stats_.accepted++;
      co_return std::unique_ptr<Socket>(std::make_unique<SimSocket>(
          net_, conn_id, 1, server.node, shard_, server.local, server.peer));
    }
    RUNNEL_ASSERT(!l->waiter, "two Accepts at once on listener {}", local_.ToString());
    co_await Park{&l->waiter};
  }
}

Task<Status> SimListener::Close() {
  net_.CloseListener(id_);
  co_return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// SimSocket

SimSocket::SimSocket(SimNetwork& net, uint64_t conn, int side, uint32_t node, ShardId shard,
                     Address local, Address peer)
    : net_(net),
      conn_(conn),
      side_(side),
      node_(node),
      shard_(shard),
      local_(std::move(local)),
      peer_(std::move(peer)) {}

SimSocket::~SimSocket() { net_.CloseEnd(conn_, side_); }

Status SimSocket::Check(SimNetwork::End** end) {
  SimNetwork::Conn* c = net_.FindConn(conn_);
  if (c == nullptr) return Status::FromErrno(ECONNRESET, "socket");
  SimNetwork::End& e = c->end[side_];
  if (e.closed) return Status::Closed("socket closed");
  if (e.reset)
    return Status::FromErrno(ECONNRESET, fmt::format("connection to {}", peer_.ToString()));
  *end = &e;
  return Status::Ok();
}

Task<Result<size_t>> SimSocket::Recv(std::span<std::byte> buf) {
  co_await net_.world_.Delay(node_, shard_, Duration(0), EventKind::kNet);
  for (;;) {
    SimNetwork::End* e = nullptr;
    if (Status s = Check(&e); !s.ok()) co_return s;
    if (buf.empty()) co_return size_t{0};
    if (!e->inbox.empty()) {
      const size_t n = std::min(buf.size(), e->inbox.size());
      std::copy_n(e->inbox.begin(), n, buf.begin());
      e->inbox.erase(e->inbox.begin(), e->inbox.begin() + static_cast<std::ptrdiff_t>(n));
      SimNetwork::Conn* c = net_.FindConn(conn_);
      c->stream[1 - side_].buffered -= n;
      SimNetwork::End& other = c->end[1 - side_];
      net_.Wake(other.node, other.shard, other.send_waiter);
      co_return n;
    }
    if (e->eof) co_return size_t{0};
    RUNNEL_ASSERT(!e->recv_waiter, "two Recvs at once on a socket to {}", peer_.ToString());
    co_await Park{&e->recv_waiter};
  }
}

Task<Status> SimSocket::Send(std::span<const std::byte> data) {
  co_await net_.world_.Delay(node_, shard_, Duration(0), EventKind::kNet);
  {
    SimNetwork::End* e = nullptr;
    RUNNEL_CO_TRY(Check(&e));
    if (net_.rng_.Chance(net_.options_.faults.reset_probability)) {
      net_.Reset(*net_.FindConn(conn_));
      co_return Status::FromErrno(ECONNRESET, fmt::format("send to {}", peer_.ToString()));
    }
  }
  size_t done = 0;
  for (;;) {
    SimNetwork::End* e = nullptr;
    RUNNEL_CO_TRY(Check(&e));
    if (e->write_shut)
      co_return Status::FromErrno(EPIPE, fmt::format("send to {}", peer_.ToString()));
    if (done == data.size()) co_return Status::Ok();
    SimNetwork::Conn* c = net_.FindConn(conn_);
    SimNetwork::Stream& s = c->stream[side_];
    const size_t window = net_.options_.window_bytes;
    if (s.buffered >= window) {
      RUNNEL_ASSERT(!e->send_waiter, "two Sends at once on a socket to {}", peer_.ToString());
      co_await Park{&e->send_waiter};
      continue;
    }
    const size_t n = std::min(window - s.buffered, data.size() - done);
    net_.Transmit(*c, side_, data.subspan(done, n), false);
    done += n;
  }
}

Task<Status> SimSocket::SendFile(File& file, uint64_t offset, uint64_t len) {
  {
    SimNetwork::End* e = nullptr;
    RUNNEL_CO_TRY(Check(&e));
  }
  if (len == 0) co_return Status::Ok();
  // Any File works (production copies through user space for files it cannot splice); a SimFile
  // must belong to this node's disk: one process cannot hold another machine's file.
  auto* sim_file = dynamic_cast<SimFile*>(&file);
  if (sim_file != nullptr && sim_file->disk().node() != node_) {
    co_return Status::InvalidArgument("SendFile of a file on another node's disk");
  }
  RUNNEL_CO_ASSIGN_OR_RETURN(uint64_t size, co_await file.Size());
  if (offset + len > size) {
    co_return Status::Corruption(fmt::format("send_file {} [{}, +{}): the file has {} bytes",
                                             file.path(), offset, len, size));
  }
  constexpr uint64_t kPieceBytes = 256 * 1024;
  std::vector<std::byte> buf(static_cast<size_t>(std::min(len, kPieceBytes)));
  for (uint64_t done = 0; done < len;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(len - done, buf.size()));
    std::span<std::byte> piece(buf.data(), n);
    RUNNEL_CO_TRY(co_await ReadExactly(file, offset + done, piece));
    RUNNEL_CO_TRY(co_await Send(piece));
    done += n;
  }
  co_return Status::Ok();
}

Task<Status> SimSocket::ShutdownWrite() {
  co_await net_.world_.Delay(node_, shard_, Duration(0), EventKind::kNet);
  SimNetwork::End* e = nullptr;
  RUNNEL_CO_TRY(Check(&e));
  if (e->write_shut) co_return Status::Ok();
  e->write_shut = true;
  net_.Transmit(*net_.FindConn(conn_), side_, {}, true);
  co_return Status::Ok();
}

Task<Status> SimSocket::Close() {
  net_.CloseEnd(conn_, side_);
  co_return Status::Ok();
}

}  // namespace runnel::sim
