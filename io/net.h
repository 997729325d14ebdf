// Network / Listener / Socket: TCP byte streams. Production: io_uring on real sockets, with
// SendFile using sendfile(2)/splice so file bytes never enter user space. Simulation:
// SimNetwork, ordered streams delivered in random chunks after random latency, with resets and
// partitions.
//
// Every operation on one Socket may run concurrently with at most one Recv and one Send/SendFile
// in flight at a time. Close() fails pending operations with kClosed (or kCancelled).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>

#include "io/file.h"
#include "io/status.h"
#include "io/task.h"

namespace runnel {

struct Address {
  std::string host;  // IPv4 literal such as "127.0.0.1" (the simulator uses "10.0.0.N")
  uint16_t port = 0;

  Address() = default;
  // A constructor on purpose: GCC 12 destroys an aggregate-initialised temporary twice when it
  // appears inside a co_await expression, as in `co_await net.Listen(Address{host, 0})`.
  Address(std::string host_in, uint16_t port_in) : host(std::move(host_in)), port(port_in) {}

  // Parses "host:port".
  static Result<Address> Parse(std::string_view text);
  std::string ToString() const;
  friend bool operator==(const Address&, const Address&) = default;
};

class Socket {
 public:
  virtual ~Socket() = default;

  // Receives up to buf.size() bytes; resolves 0 at end of stream (the peer shut down writes).
  virtual Task<Result<size_t>> Recv(std::span<std::byte> buf) = 0;
  // Sends all of `data` or fails.
  virtual Task<Status> Send(std::span<const std::byte> data) = 0;
  // Sends `len` bytes of `file` from `offset` without copying them through user space.
  // Fails with kCorruption if the file is shorter than offset+len.
  virtual Task<Status> SendFile(File& file, uint64_t offset, uint64_t len) = 0;
  // Shuts down the write side: the peer sees end of stream after the bytes already sent.
  virtual Task<Status> ShutdownWrite() = 0;
  virtual Task<Status> Close() = 0;

  virtual const Address& peer() const = 0;
  virtual const Address& local() const = 0;
};

// Receives exactly buf.size() bytes; kClosed if the stream ends first.
Task<Status> RecvExactly(Socket& socket, std::span<std::byte> buf);

struct ListenOptions {
  int backlog = 1024;
  // SO_REUSEPORT: several shards listen on one port and the kernel spreads connections.
  bool reuse_port = false;
};

class Listener {
 public:
  virtual ~Listener() = default;
  virtual Task<Result<std::unique_ptr<Socket>>> Accept() = 0;
  // The bound address (port filled in when listening on port 0).
  virtual const Address& local() const = 0;
  // Stops accepting; a pending Accept fails with kClosed.
  virtual Task<Status> Close() = 0;
};

class Network {
 public:
  virtual ~Network() = default;
  virtual Task<Result<std::unique_ptr<Listener>>> Listen(const Address& addr,
                                                         ListenOptions opts = {}) = 0;
  virtual Task<Result<std::unique_ptr<Socket>>> Connect(const Address& addr) = 0;
};

}  // namespace runnel
