#include "io/uring/uring_net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "io/uring/uring_file.h"

namespace runnel::uring {
namespace {

// One send or recv moves at most this much (the CQE result is a 32-bit int).
constexpr size_t kOpBytesMax = size_t{1} << 30;
// SendFile's fallback for files that are not UringFiles copies through a buffer this big.
constexpr size_t kCopyBufferBytesMax = size_t{256} << 10;
// SendFile submits at most this many (file -> pipe, pipe -> socket) pairs as one linked chain.
constexpr size_t kSpliceChainPairsMax = Ring::kChainOpsMax / 2;

bool Retryable(int32_t res) { return res == -EINTR || res == -EAGAIN; }

Result<sockaddr_in> ToSockaddr(const Address& addr) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(addr.port);
  if (::inet_pton(AF_INET, addr.host.c_str(), &sa.sin_addr) != 1) {
    return Status::InvalidArgument(fmt::format("'{}' is not an IPv4 address literal", addr.host));
  }
  return sa;
}

Address FromSockaddr(const sockaddr_in& sa) {
  char text[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &sa.sin_addr, text, sizeof(text));
  return Address{text, ntohs(sa.sin_port)};
}

Address LocalAddress(int fd) {
  sockaddr_in sa{};
  socklen_t len = sizeof(sa);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) return Address{};
  return FromSockaddr(sa);
}

void SetNoDelay(int fd) {
  int one = 1;
  // Kafka responses are latency sensitive and written whole; Nagle would only delay them.
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

}  // namespace

// --- UringSocket -------------------------------------------------------------------------------

UringSocket::UringSocket(UringNetwork& net, int fd, Address local, Address peer)
    : net_(net), fd_(fd), local_(std::move(local)), peer_(std::move(peer)) {}

UringSocket::~UringSocket() {
  if (fd_ >= 0) {
    net_.ring().CancelFd(fd_);
    ::close(fd_);
  }
}

Status UringSocket::ClosedStatus() const {
  return Status::Closed(fmt::format("socket to {} is closed", peer_.ToString()));
}

Task<Result<size_t>> UringSocket::Recv(std::span<std::byte> buf) {
  if (closed_) co_return ClosedStatus();
  if (buf.empty()) co_return size_t{0};
  const size_t want = std::min(buf.size(), kOpBytesMax);
  int32_t res;
  do {
    res = co_await net_.ring().Op(
        [&](io_uring_sqe* sqe) { io_uring_prep_recv(sqe, fd_, buf.data(), want, 0); });
  } while (Retryable(res) && !closed_);
  // Close() fails a pending Recv, whatever the kernel made of the cancellation.
  if (closed_) co_return ClosedStatus();
  if (res < 0) {
    co_return Status::FromErrno(-res, fmt::format("recv from {}", peer_.ToString()));
  }
  co_return static_cast<size_t>(res);
}

Task<Status> UringSocket::Send(std::span<const std::byte> data) {
  size_t done = 0;
  while (done < data.size()) {
    if (closed_) co_return ClosedStatus();
    const size_t want = std::min(data.size() - done, kOpBytesMax);
    // MSG_WAITALL makes the kernel retry short sends itself; MSG_NOSIGNAL: no SIGPIPE.
    int32_t res = co_await net_.ring().Op([&](io_uring_sqe* sqe) {
      io_uring_prep_send(sqe, fd_, data.data() + done, want, MSG_NOSIGNAL | MSG_WAITALL);
    });
    if (closed_) co_return ClosedStatus();
    if (Retryable(res)) continue;
    if (res < 0) co_return Status::FromErrno(-res, fmt::format("send to {}", peer_.ToString()));
    if (res == 0)
      co_return Status::Closed(fmt::format("send to {}: no progress", peer_.ToString()));
    done += static_cast<size_t>(res);
  }
  co_return Status::Ok();
}

Task<Status> UringSocket::SendFile(File& file, uint64_t offset, uint64_t len) {
  if (closed_) co_return ClosedStatus();
  if (len == 0) co_return Status::Ok();
  auto* uring_file = dynamic_cast<UringFile*>(&file);
  if (uring_file == nullptr) co_return co_await CopyFrom(file, offset, len);
  RUNNEL_CO_ASSIGN_OR_RETURN(uint64_t size, uring_file->SizeNow());
  if (size < offset + len) {
    co_return Status::Corruption(fmt::format("send_file {} [{}, +{}): the file has {} bytes",
                                             file.path(), offset, len, size));
  }
  co_return co_await SpliceFrom(uring_file->fd(), file.path(), offset, len);
}

// Owns a pipe borrowed from the pool for one SendFile, including when the frame is destroyed
// mid-send at shutdown. An empty pipe goes back to the pool; one that may hold bytes is closed.
class PipeLease {
 public:
  PipeLease(PipePool& pool, Pipe pipe) : pool_(pool), pipe_(pipe) {}
  ~PipeLease() {
    if (empty_) {
      pool_.Release(pipe_);
    } else {
      PipePool::Discard(pipe_);
    }
  }
  PipeLease(const PipeLease&) = delete;
  PipeLease& operator=(const PipeLease&) = delete;
  const Pipe& pipe() const { return pipe_; }
  void set_empty(bool empty) { empty_ = empty; }

 private:
  PipePool& pool_;
  Pipe pipe_;
  bool empty_ = true;
};

Task<Status> UringSocket::SpliceFrom(int file_fd, const std::string& path, uint64_t offset,
                                     uint64_t len) {
  RUNNEL_CO_ASSIGN_OR_RETURN(Pipe acquired, net_.pipes().Acquire());
  PipeLease lease(net_.pipes(), acquired);
  const Pipe& pipe = lease.pipe();
  Ring& ring = net_.ring();
  auto fail = [&](Status s) -> Status { return closed_ ? ClosedStatus() : std::move(s); };
  uint64_t moved = 0;  // bytes of the file that went through the pipe into the socket
  while (moved < len) {
    if (closed_) co_return ClosedStatus();
    // One chain of (file -> pipe, pipe -> socket) pairs, each pair one pipe-full: the kernel
    // runs them back to back in one io-wq worker, and the shard hears back once per chain.
    const uint64_t left = len - moved;
    const size_t pairs = static_cast<size_t>(std::min<uint64_t>(
        kSpliceChainPairsMax, (left + pipe.capacity_bytes - 1) / pipe.capacity_bytes));
    auto chunk_of = [&](size_t pair) -> size_t {
      const uint64_t start = static_cast<uint64_t>(pair) * pipe.capacity_bytes;
      return static_cast<size_t>(std::min<uint64_t>(pipe.capacity_bytes, left - start));
    };
    // Until the chain resolves the pipe may hold bytes.
    lease.set_empty(false);
    Ring::ChainResults res = co_await ring.Chain(2 * pairs, [&](size_t i, io_uring_sqe* sqe) {
      const size_t pair = i / 2;
      const size_t chunk = chunk_of(pair);
      const uint64_t at = moved + static_cast<uint64_t>(pair) * pipe.capacity_bytes;
      if (i % 2 == 0) {
        io_uring_prep_splice(sqe, file_fd, static_cast<int64_t>(offset + at), pipe.write_fd, -1,
                             static_cast<unsigned>(chunk), SPLICE_F_MOVE);
      } else {
        const unsigned more = at + chunk < len ? SPLICE_F_MORE : 0;
        io_uring_prep_splice(sqe, pipe.read_fd, -1, fd_, -1, static_cast<unsigned>(chunk),
                             SPLICE_F_MOVE | more);
      }
    });
    // Walk the pairs that ran in full; stop at the first short or failed op.
    for (size_t pair = 0; pair < pairs; pair++) {
      const size_t chunk = chunk_of(pair);
      const int32_t in = res[2 * pair];
      const int32_t out = res[2 * pair + 1];
      if (in < 0) {
        // Nothing of this pair entered the pipe (splice fails only when it moved nothing).
        lease.set_empty(true);
        if (Retryable(in) || in == -ECANCELED) break;  // retried by the outer loop
        co_return fail(
            Status::FromErrno(-in, fmt::format("splice {} at {}", path, offset + moved)));
      }
      if (in == 0) {
        lease.set_empty(true);
        co_return fail(Status::Corruption(fmt::format("send_file {}: end of file at {}, wanted {}",
                                                      path, offset + moved, offset + len)));
      }
      size_t in_pipe = static_cast<size_t>(in);
      if (out > 0) {
        in_pipe -= static_cast<size_t>(out);
      } else if (out < 0 && out != -ECANCELED && !Retryable(out)) {
        co_return fail(Status::FromErrno(-out, fmt::format("splice to {}", peer_.ToString())));
      }
      // A short read broke the chain, or the socket took less: drain the pipe.
      while (in_pipe > 0) {
        if (closed_) co_return ClosedStatus();
        const unsigned more = moved + static_cast<uint64_t>(in) < len ? SPLICE_F_MORE : 0;
        int32_t r = co_await ring.Op([&](io_uring_sqe* sqe) {
          io_uring_prep_splice(sqe, pipe.read_fd, -1, fd_, -1, static_cast<unsigned>(in_pipe),
                               SPLICE_F_MOVE | more);
        });
        if (Retryable(r)) continue;
        if (r <= 0) {
          co_return fail(
              r == 0 ? Status::Closed("splice to socket: no progress")
                     : Status::FromErrno(-r, fmt::format("splice to {}", peer_.ToString())));
        }
        in_pipe -= static_cast<size_t>(r);
      }
      lease.set_empty(true);
      moved += static_cast<uint64_t>(in);
      if (static_cast<size_t>(in) < chunk || out != static_cast<int32_t>(chunk)) break;
    }
  }
  co_return Status::Ok();
}

Task<Status> UringSocket::CopyFrom(File& file, uint64_t offset, uint64_t len) {
  std::vector<std::byte> buf(static_cast<size_t>(std::min<uint64_t>(len, kCopyBufferBytesMax)));
  uint64_t done = 0;
  while (done < len) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(len - done, buf.size()));
    RUNNEL_CO_ASSIGN_OR_RETURN(size_t n,
                               co_await file.ReadAt(offset + done, std::span(buf).first(want)));
    if (n == 0) {
      co_return Status::Corruption(fmt::format("send_file {}: end of file at {}, wanted {}",
                                               file.path(), offset + done, offset + len));
    }
    RUNNEL_CO_TRY(co_await Send(std::span<const std::byte>(buf).first(n)));
    done += n;
  }
  co_return Status::Ok();
}

Task<Status> UringSocket::ShutdownWrite() {
  if (closed_) co_return ClosedStatus();
  int32_t res;
  if (net_.ring().Supports(IORING_OP_SHUTDOWN)) {
    res = co_await net_.ring().Op(
        [&](io_uring_sqe* sqe) { io_uring_prep_shutdown(sqe, fd_, SHUT_WR); });
  } else {
    res = ::shutdown(fd_, SHUT_WR) == 0 ? 0 : -errno;
  }
  if (res < 0) {
    co_return Status::FromErrno(-res, fmt::format("shutdown write to {}", peer_.ToString()));
  }
  co_return Status::Ok();
}

Task<Status> UringSocket::Close() {
  if (closed_) co_return Status::Ok();
  closed_ = true;
  // Cancel what is pending on the descriptor while it is still open (the kernel looks it up),
  // and shut the socket down so a splice blocked in an io-wq worker wakes with EPIPE.
  net_.ring().CancelFd(fd_);
  ::shutdown(fd_, SHUT_RDWR);
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0 && errno != EINTR) {
    co_return Status::FromErrno(errno, fmt::format("close socket to {}", peer_.ToString()));
  }
  co_return Status::Ok();
}

// --- UringListener -----------------------------------------------------------------------------

UringListener::UringListener(UringNetwork& net, int fd, Address local)
    : net_(net), fd_(fd), local_(std::move(local)) {}

UringListener::~UringListener() {
  if (fd_ >= 0) {
    net_.ring().CancelFd(fd_);
    ::close(fd_);
  }
}

Task<Result<std::unique_ptr<Socket>>> UringListener::Accept() {
  for (;;) {
    if (closed_) co_return Status::Closed(fmt::format("listener {} is closed", local_.ToString()));
    sockaddr_in sa{};
    socklen_t sa_len = sizeof(sa);
    int32_t res = co_await net_.ring().Op([&](io_uring_sqe* sqe) {
      io_uring_prep_accept(sqe, fd_, reinterpret_cast<sockaddr*>(&sa), &sa_len, SOCK_CLOEXEC);
    });
    if (closed_) {
      if (res >= 0) ::close(res);
      co_return Status::Closed(fmt::format("listener {} is closed", local_.ToString()));
    }
    // A connection reset before we took it is the peer's business, not the listener's.
    if (Retryable(res) || res == -ECONNABORTED) continue;
    if (res < 0) co_return Status::FromErrno(-res, fmt::format("accept on {}", local_.ToString()));
    SetNoDelay(res);
    co_return std::unique_ptr<Socket>(
        std::make_unique<UringSocket>(net_, res, LocalAddress(res), FromSockaddr(sa)));
  }
}

Task<Status> UringListener::Close() {
  if (closed_) co_return Status::Ok();
  closed_ = true;
  net_.ring().CancelFd(fd_);
  ::shutdown(fd_, SHUT_RDWR);
  ::close(std::exchange(fd_, -1));
  co_return Status::Ok();
}

// --- UringNetwork ------------------------------------------------------------------------------

Task<Result<std::unique_ptr<Listener>>> UringNetwork::Listen(const Address& addr,
                                                             ListenOptions opts) {
  RUNNEL_CO_ASSIGN_OR_RETURN(sockaddr_in sa, ToSockaddr(addr));
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) co_return Status::FromErrno(errno, "socket");
  auto fail = [&](std::string_view what) {
    Status s = Status::FromErrno(errno, fmt::format("{} {}", what, addr.ToString()));
    ::close(fd);
    return s;
  };
  int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) {
    co_return fail("SO_REUSEADDR on");
  }
  if (opts.reuse_port && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
    co_return fail("SO_REUSEPORT on");
  }
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) != 0) co_return fail("bind");
  if (::listen(fd, opts.backlog) != 0) co_return fail("listen on");
  co_return std::unique_ptr<Listener>(std::make_unique<UringListener>(*this, fd, LocalAddress(fd)));
}

Task<Result<std::unique_ptr<Socket>>> UringNetwork::Connect(const Address& addr) {
  RUNNEL_CO_ASSIGN_OR_RETURN(sockaddr_in sa, ToSockaddr(addr));
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) co_return Status::FromErrno(errno, "socket");
  int32_t res = co_await ring_.Op([&](io_uring_sqe* sqe) {
    io_uring_prep_connect(sqe, fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa));
  });
  if (res < 0) {
    ::close(fd);
    co_return Status::FromErrno(-res, fmt::format("connect to {}", addr.ToString()));
  }
  SetNoDelay(fd);
  co_return std::unique_ptr<Socket>(
      std::make_unique<UringSocket>(*this, fd, LocalAddress(fd), addr));
}

}  // namespace runnel::uring
