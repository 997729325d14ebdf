// UringNetwork / UringListener / UringSocket: TCP over IPv4 in production. Accept, connect, recv,
// send, shutdown and splice go through the shard's io_uring; socket/bind/listen are plain
// syscalls (they never block). Every socket has TCP_NODELAY; listeners have SO_REUSEADDR and, when
// asked, SO_REUSEPORT. SendFile splices file -> pipe -> socket with two linked IORING_OP_SPLICE
// SQEs per chunk, so the bytes never enter user space.
//
// Owner and thread: one UringNetwork per shard; its listeners and sockets belong to that shard
// and are used only from its thread. At most one Recv and one Send/SendFile may be in flight on a
// socket at a time (io/net.h).
//
// Close cancels the operations in flight on the descriptor (IORING_OP_ASYNC_CANCEL by fd, plus
// shutdown(2) for sockets so a blocking splice wakes up); they resolve with kClosed. The object
// must outlive its pending operations: Close, let them resolve, then destroy.
#pragma once

#include <memory>

#include "io/net.h"
#include "io/uring/pipe_pool.h"
#include "io/uring/ring.h"

namespace runnel::uring {

class UringNetwork;

class UringSocket final : public Socket {
 public:
  // Takes ownership of `fd`.
  UringSocket(UringNetwork& net, int fd, Address local, Address peer);
  ~UringSocket() override;
  UringSocket(const UringSocket&) = delete;
  UringSocket& operator=(const UringSocket&) = delete;

  Task<Result<size_t>> Recv(std::span<std::byte> buf) override;
  Task<Status> Send(std::span<const std::byte> data) override;
  Task<Status> SendFile(File& file, uint64_t offset, uint64_t len) override;
  Task<Status> ShutdownWrite() override;
  Task<Status> Close() override;
  const Address& peer() const override { return peer_; }
  const Address& local() const override { return local_; }

 private:
  Status ClosedStatus() const;
  Task<Status> SpliceFrom(int file_fd, const std::string& path, uint64_t offset, uint64_t len);
  Task<Status> CopyFrom(File& file, uint64_t offset, uint64_t len);

  UringNetwork& net_;
  int fd_;
  bool closed_ = false;
  Address local_;
  Address peer_;
};

class UringListener final : public Listener {
 public:
  UringListener(UringNetwork& net, int fd, Address local);
  ~UringListener() override;
  UringListener(const UringListener&) = delete;
  UringListener& operator=(const UringListener&) = delete;

  Task<Result<std::unique_ptr<Socket>>> Accept() override;
  const Address& local() const override { return local_; }
  Task<Status> Close() override;

 private:
  UringNetwork& net_;
  int fd_;
  bool closed_ = false;
  Address local_;
};

class UringNetwork final : public Network {
 public:
  explicit UringNetwork(Ring& ring) : ring_(ring) {}

  Task<Result<std::unique_ptr<Listener>>> Listen(const Address& addr, ListenOptions opts) override;
  Task<Result<std::unique_ptr<Socket>>> Connect(const Address& addr) override;

  Ring& ring() { return ring_; }
  PipePool& pipes() { return pipes_; }

 private:
  Ring& ring_;
  PipePool pipes_;
};

}  // namespace runnel::uring
