// SimNetwork: connect/accept, ordered streams in random chunks after random latency,
// back-pressure, end of stream, resets, partitions (both ways and one way) and heal,
// SendFile, crashes.
#include "sim/network.h"

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "sim/node.h"
#include "sim/world.h"
#include "tests/sim/sim_test_util.h"

namespace runnel::sim {
namespace {

using namespace std::chrono_literals;
using testing::Bytes;
using testing::RunTask;
using testing::Text;

constexpr uint16_t kPort = 9000;

std::vector<std::byte> Pattern(size_t n, uint64_t seed) {
  std::vector<std::byte> out(n);
  Rng rng(seed);
  rng.Fill(out);
  return out;
}

// Accepts connections forever; echoes every byte back until the peer ends the stream.
Task<void> EchoServer(Io& io) {
  auto listener = co_await io.net().Listen(Address{"0.0.0.0", kPort});
  if (!listener.ok()) co_return;
  for (;;) {
    auto sock = co_await (*listener)->Accept();
    if (!sock.ok()) co_return;
    io.Spawn([](std::unique_ptr<Socket> s) -> Task<void> {
      std::vector<std::byte> buf(4096);
      for (;;) {
        auto n = co_await s->Recv(buf);
        if (!n.ok() || *n == 0) break;
        if (!(co_await s->Send(std::span(buf.data(), *n))).ok()) break;
      }
      (void)co_await s->Close();
    }(std::move(*sock)));
  }
}

struct Pair {
  SimWorld world;
  NodeId server;
  NodeId client;
  explicit Pair(uint64_t seed) : world(seed) {
    server =
        world.AddNode(NodeOptions{.boot = [](SimNode& n) { n.Spawn(0, EchoServer(n.io(0))); }});
    client = world.AddNode();
    world.RunFor(1ms);  // the server listens
  }
};

TEST(SimNetwork, EchoArrivesInOrderInRandomChunks) {
  for (uint64_t seed = 1; seed <= 10; seed++) {
    Pair p(seed);
    const std::vector<std::byte> sent = Pattern(300'000, seed);
    std::vector<std::byte> got;
    std::set<size_t> chunk_sizes;
    EXPECT_TRUE(RunTask(p.world, p.client, [&](Io& io) -> Task<void> {
      auto sock = co_await io.net().Connect(Address{"10.0.0.1", kPort});
      EXPECT_TRUE(sock.ok()) << sock.status().ToString();
      if (!sock.ok()) co_return;
      EXPECT_EQ((*sock)->peer().ToString(), "10.0.0.1:9000");
      EXPECT_EQ((*sock)->local().host, "10.0.0.2");
      // Send and receive concurrently (the window is smaller than the payload).
      io.Spawn([](Socket* s, const std::vector<std::byte>* data) -> Task<void> {
        EXPECT_TRUE((co_await s->Send(*data)).ok());
        EXPECT_TRUE((co_await s->ShutdownWrite()).ok());
      }(sock->get(), &sent));
      std::vector<std::byte> buf(64 * 1024);
      for (;;) {
        auto n = co_await (*sock)->Recv(buf);
        EXPECT_TRUE(n.ok());
        if (!n.ok() || *n == 0) break;
        chunk_sizes.insert(*n);
        got.insert(got.end(), buf.begin(), buf.begin() + *n);
      }
    }));
    EXPECT_EQ(got.size(), sent.size());
    EXPECT_TRUE(got == sent) << "seed " << seed;
    EXPECT_GT(chunk_sizes.size(), 5u) << "deliveries should come in varied chunks";
  }
}

TEST(SimNetwork, LatencyIsWithinTheConfiguredRange) {
  Pair p(2);
  std::vector<Duration> rtts;
  EXPECT_TRUE(RunTask(p.world, p.client, [&](Io& io) -> Task<void> {
    auto sock = co_await io.net().Connect(Address{"10.0.0.1", kPort});
    std::vector<std::byte> buf(1);
    for (int i = 0; i < 50; i++) {
      Instant t0 = io.clock().Now();
      EXPECT_TRUE((co_await (*sock)->Send(Bytes("x"))).ok());
      EXPECT_TRUE((co_await RecvExactly(**sock, buf)).ok());
      rtts.push_back(io.clock().Now() - t0);
    }
  }));
  const NetOptions o;
  std::set<int64_t> distinct;
  for (Duration rtt : rtts) {
    EXPECT_GE(rtt, 2 * o.latency_min);
    EXPECT_LE(rtt, 2 * o.latency_max + 1ms);
    distinct.insert(rtt.count());
  }
  EXPECT_GT(distinct.size(), 40u);  // random, not constant
}

TEST(SimNetwork, RefusedWhenNothingListens) {
  Pair p(3);
  Status refused, unknown;
  EXPECT_TRUE(RunTask(p.world, p.client, [&](Io& io) -> Task<void> {
    refused = (co_await io.net().Connect(Address{"10.0.0.1", 1234})).status();
    unknown = (co_await io.net().Connect(Address{"10.0.0.77", kPort})).status();
  }));
  EXPECT_TRUE(refused.Is(ErrorKind::kRefused)) << refused.ToString();
  EXPECT_TRUE(unknown.Is(ErrorKind::kRefused)) << unknown.ToString();
}

TEST(SimNetwork, ResetFailsBothEnds) {
  SimWorld world(4);
  NodeId a = world.AddNode();
  NodeId b = world.AddNode();
  Status server_recv, client_recv, client_send;
  world.Spawn(a, 0, [](Io& io, Status* out) -> Task<void> {
    auto l = co_await io.net().Listen(Address{"0.0.0.0", kPort});
    auto s = co_await (*l)->Accept();
    std::vector<std::byte> buf(10);
    *out = (co_await (*s)->Recv(buf)).status();
  }(world.node(a).io(0), &server_recv));
  world.RunFor(1ms);
  world.Spawn(b, 0, [](Io& io, Status* recv, Status* send) -> Task<void> {
    auto s = co_await io.net().Connect(Address{"10.0.0.1", kPort});
    std::vector<std::byte> buf(10);
    *recv = (co_await (*s)->Recv(buf)).status();
    *send = co_await (*s)->Send(Bytes("after"));
  }(world.node(b).io(0), &client_recv, &client_send));
  world.RunFor(100ms);
  EXPECT_EQ(world.network().ResetConnections(a, b), 1u);
  world.RunFor(100ms);
  EXPECT_TRUE(server_recv.Is(ErrorKind::kClosed)) << server_recv.ToString();
  EXPECT_TRUE(client_recv.Is(ErrorKind::kClosed)) << client_recv.ToString();
  EXPECT_TRUE(client_send.Is(ErrorKind::kClosed)) << client_send.ToString();
}

TEST(SimNetwork, TwoWayPartitionHoldsTrafficAndTimesOutConnectsUntilHealed) {
  Pair p(5);
  std::vector<std::byte> got;
  Status connect_during;
  std::unique_ptr<Socket> sock;
  EXPECT_TRUE(RunTask(p.world, p.client, [&](Io& io) -> Task<void> {
    auto s = co_await io.net().Connect(Address{"10.0.0.1", kPort});
    sock = std::move(*s);
  }));
  p.world.network().Partition(p.client, p.server);
  bool echoed = false;
  p.world.Spawn(
      p.client, 0,
      [](Io& io, Socket* s, std::vector<std::byte>* got, bool* echoed,
         Status* connect_during) -> Task<void> {
        EXPECT_TRUE((co_await s->Send(Bytes("held across the partition"))).ok());
        *connect_during = (co_await io.net().Connect(Address{"10.0.0.1", kPort})).status();
        std::vector<std::byte> buf(25);
        EXPECT_TRUE((co_await RecvExactly(*s, buf)).ok());
        *got = buf;
        *echoed = true;
      }(p.world.node(p.client).io(0), sock.get(), &got, &echoed, &connect_during));
  p.world.RunFor(5s);
  EXPECT_FALSE(echoed);
  EXPECT_TRUE(connect_during.Is(ErrorKind::kTimeout)) << connect_during.ToString();
  EXPECT_GT(p.world.network().stats().held_deliveries, 0u);
  p.world.network().Heal(p.client, p.server);
  p.world.RunFor(1s);
  EXPECT_TRUE(echoed);
  EXPECT_EQ(Text(got), "held across the partition");
}

TEST(SimNetwork, OneWayPartitionBlocksOneDirectionOnly) {
  SimWorld world(6);
  NodeId a = world.AddNode();
  NodeId b = world.AddNode();
  std::unique_ptr<Socket> sa, sb;
  world.Spawn(a, 0, [](Io& io, std::unique_ptr<Socket>* out) -> Task<void> {
    auto l = co_await io.net().Listen(Address{"0.0.0.0", kPort});
    *out = std::move(*(co_await (*l)->Accept()));
  }(world.node(a).io(0), &sa));
  world.RunFor(1ms);
  world.Spawn(b, 0, [](Io& io, std::unique_ptr<Socket>* out) -> Task<void> {
    *out = std::move(*(co_await io.net().Connect(Address{"10.0.0.1", kPort})));
  }(world.node(b).io(0), &sb));
  world.RunFor(100ms);
  ASSERT_TRUE(sa && sb);
  world.network().Partition(a, b, /*one_way=*/true);  // a -> b blocked
  std::string at_a, at_b;
  auto reader = [](Socket* s, std::string* out) -> Task<void> {
    std::vector<std::byte> buf(5);
    if ((co_await RecvExactly(*s, buf)).ok()) *out = Text(buf);
  };
  world.Spawn(a, 0,
              [](Socket* s) -> Task<void> { (void)co_await s->Send(Bytes("a->b!")); }(sa.get()));
  world.Spawn(b, 0,
              [](Socket* s) -> Task<void> { (void)co_await s->Send(Bytes("b->a!")); }(sb.get()));
  world.Spawn(a, 0, reader(sa.get(), &at_a));
  world.Spawn(b, 0, reader(sb.get(), &at_b));
  world.RunFor(2s);
  EXPECT_EQ(at_a, "b->a!");
  EXPECT_EQ(at_b, "");
  world.network().HealAll();
  world.RunFor(1s);
  EXPECT_EQ(at_b, "a->b!");
}

TEST(SimNetwork, ShutdownWriteAndCloseEndTheStream) {
  Pair p(7);
  std::string got;
  uint64_t eof_reads = 0;
  EXPECT_TRUE(RunTask(p.world, p.client, [&](Io& io) -> Task<void> {
    auto s = co_await io.net().Connect(Address{"10.0.0.1", kPort});
    EXPECT_TRUE((co_await (*s)->Send(Bytes("bye"))).ok());
    EXPECT_TRUE((co_await (*s)->ShutdownWrite()).ok());
    EXPECT_TRUE((co_await (*s)->Send(Bytes("more"))).Is(ErrorKind::kClosed));
    std::vector<std::byte> buf(16);
    for (;;) {
      auto n = co_await (*s)->Recv(buf);
      EXPECT_TRUE(n.ok());
      if (!n.ok()) break;
      if (*n == 0) {
        eof_reads++;
        break;
      }
      got += Text(std::vector<std::byte>(buf.begin(), buf.begin() + *n));
    }
    EXPECT_TRUE((co_await (*s)->Close()).ok());
    EXPECT_TRUE((co_await (*s)->Recv(buf)).status().Is(ErrorKind::kClosed));
  }));
  EXPECT_EQ(got, "bye");  // the echo server echoed, then closed after our end of stream
  EXPECT_EQ(eof_reads, 1u);
  p.world.RunFor(1s);
  EXPECT_EQ(p.world.network().connections(), 0u);  // both ends closed: nothing left
}

TEST(SimNetwork, SendWaitsForTheReceiverWindow) {
  SimWorld world(8);
  NodeId a = world.AddNode();
  NodeId b = world.AddNode();
  std::unique_ptr<Socket> server;
  world.Spawn(a, 0, [](Io& io, std::unique_ptr<Socket>* out) -> Task<void> {
    auto l = co_await io.net().Listen(Address{"0.0.0.0", kPort});
    *out = std::move(*(co_await (*l)->Accept()));
  }(world.node(a).io(0), &server));
  world.RunFor(1ms);
  bool sent = false;
  const size_t total = 3 * NetOptions{}.window_bytes;
  world.Spawn(b, 0, [](Io& io, bool* sent, size_t total) -> Task<void> {
    auto s = co_await io.net().Connect(Address{"10.0.0.1", kPort});
    std::vector<std::byte> data(total, std::byte{1});
    EXPECT_TRUE((co_await (*s)->Send(data)).ok());
    *sent = true;
    co_await io.Sleep(1h);  // keep the socket open
  }(world.node(b).io(0), &sent, total));
  world.RunFor(5s);
  EXPECT_FALSE(sent);  // nobody reads: the sender is stuck behind the window
  ASSERT_TRUE(server);
  world.Spawn(a, 0, [](Socket* s, size_t total) -> Task<void> {
    std::vector<std::byte> buf(total);
    EXPECT_TRUE((co_await RecvExactly(*s, buf)).ok());
  }(server.get(), total));
  world.RunFor(5s);
  EXPECT_TRUE(sent);
}

TEST(SimNetwork, SendFileDeliversTheFileRegion) {
  Pair p(9);
  std::string got;
  Status past_end;
  EXPECT_TRUE(RunTask(p.world, p.client, [&](Io& io) -> Task<void> {
    EXPECT_TRUE(
        (co_await testing::Write(io.fs(), "/seg", 0, Bytes("0123456789"), false, false)).ok());
    auto f = co_await io.fs().Open("/seg", OpenOptions{.read_only = true});
    auto s = co_await io.net().Connect(Address{"10.0.0.1", kPort});
    EXPECT_TRUE((co_await (*s)->SendFile(**f, 2, 5)).ok());
    past_end = co_await (*s)->SendFile(**f, 8, 5);
    std::vector<std::byte> buf(5);
    EXPECT_TRUE((co_await RecvExactly(**s, buf)).ok());
    got = Text(buf);
  }));
  EXPECT_EQ(got, "23456");
  EXPECT_TRUE(past_end.Is(ErrorKind::kCorruption)) << past_end.ToString();
}

TEST(SimNetwork, ACrashedNodesPeersSeeClosedAndItsListenersVanish) {
  Pair p(10);
  Status seen;
  Status reconnect_while_down, reconnect_after_restart;
  p.world.Spawn(p.client, 0, [](Io& io, Status* seen) -> Task<void> {
    auto s = co_await io.net().Connect(Address{"10.0.0.1", kPort});
    std::vector<std::byte> buf(10);
    *seen = (co_await (*s)->Recv(buf)).status();  // nothing ever comes: blocks
  }(p.world.node(p.client).io(0), &seen));
  p.world.RunFor(50ms);
  p.world.CrashNode(p.server);
  p.world.RunFor(50ms);
  EXPECT_TRUE(seen.Is(ErrorKind::kClosed)) << seen.ToString();
  EXPECT_EQ(p.world.network().listeners(), 0u);
  EXPECT_TRUE(RunTask(p.world, p.client, [&](Io& io) -> Task<void> {
    reconnect_while_down = (co_await io.net().Connect(Address{"10.0.0.1", kPort})).status();
  }));
  EXPECT_TRUE(reconnect_while_down.Is(ErrorKind::kTimeout)) << reconnect_while_down.ToString();
  p.world.StartNode(p.server);  // boot listens again
  p.world.RunFor(10ms);
  EXPECT_TRUE(RunTask(p.world, p.client, [&](Io& io) -> Task<void> {
    reconnect_after_restart = (co_await io.net().Connect(Address{"10.0.0.1", kPort})).status();
  }));
  EXPECT_TRUE(reconnect_after_restart.ok()) << reconnect_after_restart.ToString();
}

TEST(SimNetwork, ReusePortSpreadsConnectionsAndAddressInUse) {
  SimWorld world(11);
  NodeId a = world.AddNode(NodeOptions{.shards = 2});
  NodeId b = world.AddNode();
  int accepted[2] = {0, 0};
  for (ShardId s = 0; s < 2; s++) {
    world.Spawn(a, s, [](Io& io, int* count) -> Task<void> {
      auto l =
          co_await io.net().Listen(Address{"0.0.0.0", kPort}, ListenOptions{.reuse_port = true});
      EXPECT_TRUE(l.ok());
      for (;;) {
        auto sock = co_await (*l)->Accept();
        if (!sock.ok()) co_return;
        (*count)++;
      }
    }(world.node(a).io(s), &accepted[s]));
  }
  Status in_use;
  world.Spawn(a, 0, [](Io& io, Status* out) -> Task<void> {
    co_await io.Sleep(1ms);
    *out = (co_await io.net().Listen(Address{"0.0.0.0", kPort})).status();
  }(world.node(a).io(0), &in_use));
  world.RunFor(10ms);
  EXPECT_FALSE(in_use.ok());
  EXPECT_TRUE(RunTask(world, b, [](Io& io) -> Task<void> {
    for (int i = 0; i < 20; i++) {
      auto s = co_await io.net().Connect(Address{"10.0.0.1", kPort});
      EXPECT_TRUE(s.ok());
    }
  }));
  world.RunFor(10ms);
  EXPECT_EQ(accepted[0] + accepted[1], 20);
  EXPECT_GT(accepted[0], 0);
  EXPECT_GT(accepted[1], 0);
}

TEST(SimNetwork, ClosingAListenerFailsItsAccept) {
  SimWorld world(12);
  NodeId a = world.AddNode();
  Status accept_status;
  EXPECT_TRUE(RunTask(world, a, [&](Io& io) -> Task<void> {
    auto l = co_await io.net().Listen(Address{"0.0.0.0", 0});
    EXPECT_TRUE(l.ok());
    EXPECT_GE((*l)->local().port, NetOptions{}.ephemeral_port_min);
    Listener* raw = l->get();
    io.Spawn([](Io& io, Listener* l) -> Task<void> {
      co_await io.Sleep(10ms);
      (void)co_await l->Close();
    }(io, raw));
    accept_status = (co_await raw->Accept()).status();
  }));
  EXPECT_TRUE(accept_status.Is(ErrorKind::kClosed)) << accept_status.ToString();
}

TEST(SimNetwork, HostsMustBeIpv4Literals) {
  SimWorld world(14);
  NodeId a = world.AddNode();
  Status named, listen_named, listen_other;
  EXPECT_TRUE(RunTask(world, a, [&](Io& io) -> Task<void> {
    named = (co_await io.net().Connect(Address{"localhost", kPort})).status();
    listen_named = (co_await io.net().Listen(Address{"", kPort})).status();
    listen_other = (co_await io.net().Listen(Address{"10.0.0.9", kPort})).status();
  }));
  EXPECT_TRUE(named.Is(ErrorKind::kInvalidArgument)) << named.ToString();
  EXPECT_TRUE(listen_named.Is(ErrorKind::kInvalidArgument)) << listen_named.ToString();
  EXPECT_FALSE(listen_other.ok());  // not this node's address
  EXPECT_EQ(world.network().ResolveHost("10.0.0.1", 5).value(), 1u);
  EXPECT_EQ(world.network().ResolveHost("127.0.0.2", 5).value(), 5u);
  EXPECT_EQ(world.network().ResolveHost("10.0.0.2", 5).value(), 0u);  // only one node
  EXPECT_FALSE(world.network().ResolveHost("10.0.0.1.2", 5).ok());
  EXPECT_FALSE(world.network().ResolveHost("10.0.0.256", 5).ok());
}

TEST(SimNetwork, LoopbackToSelf) {
  SimWorld world(13);
  NodeId a =
      world.AddNode(NodeOptions{.boot = [](SimNode& n) { n.Spawn(0, EchoServer(n.io(0))); }});
  world.RunFor(1ms);
  std::string got;
  EXPECT_TRUE(RunTask(world, a, [&](Io& io) -> Task<void> {
    for (const char* host : {"127.0.0.1", "10.0.0.1"}) {
      auto s = co_await io.net().Connect(Address{host, kPort});
      EXPECT_TRUE(s.ok()) << host;
      if (!s.ok()) continue;
      EXPECT_TRUE((co_await (*s)->Send(Bytes("ping"))).ok());
      std::vector<std::byte> buf(4);
      EXPECT_TRUE((co_await RecvExactly(**s, buf)).ok());
      got += Text(buf);
    }
  }));
  EXPECT_EQ(got, "pingping");
}

}  // namespace
}  // namespace runnel::sim
