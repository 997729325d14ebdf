#include "io/uring/ring.h"

#include <fmt/format.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace runnel::uring {
namespace {

// The operations the production I/O layer cannot work without. Others (renameat, unlinkat,
// mkdirat, statx, shutdown, ftruncate) fall back to plain syscalls when missing.
constexpr int kRequiredOpcodes[] = {
    IORING_OP_READ,   IORING_OP_WRITE,        IORING_OP_FSYNC,     IORING_OP_OPENAT,
    IORING_OP_ACCEPT, IORING_OP_CONNECT,      IORING_OP_RECV,      IORING_OP_SEND,
    IORING_OP_SPLICE, IORING_OP_ASYNC_CANCEL, IORING_OP_FALLOCATE,
};

// Waiting for in-flight operations at shutdown: how long one wait lasts before the cancellation
// is repeated (an operation queued behind a busy io-wq worker may miss the first one).
constexpr Duration kDrainRetryWait = std::chrono::milliseconds(10);
// How long shutdown waits for cancelled operations before it gives up (and aborts).
constexpr Duration kDrainTimeMax = std::chrono::seconds(60);

std::string ReadSysctl(const char* path) {
  std::ifstream in(path);
  std::string value;
  if (!(in >> value)) return "unreadable";
  return value;
}

__kernel_timespec ToTimespec(Duration d) {
  if (d < Duration::zero()) d = Duration::zero();
  __kernel_timespec ts{};
  ts.tv_sec = static_cast<int64_t>(d.count() / 1000000000);
  ts.tv_nsec = static_cast<long long>(d.count() % 1000000000);
  return ts;
}

}  // namespace

std::string DescribeRingInitFailure(int err, uint32_t sq_entries) {
  std::string msg =
      fmt::format("io_uring is unavailable: io_uring_queue_init({} entries) failed: {} (errno {})",
                  sq_entries, std::strerror(err), err);
  switch (err) {
    case EPERM:
    case EACCES:
      msg += fmt::format(
          ". Either the kernel.io_uring_disabled sysctl forbids it (it is {} here; 0 allows "
          "io_uring for everyone, 1 only for the io_uring_group, 2 for nobody) or a seccomp "
          "filter blocks io_uring_setup: Docker's, containerd's and Podman's default profiles do "
          "(run with --security-opt seccomp=unconfined or a profile that allows io_uring_setup, "
          "io_uring_enter and io_uring_register)",
          ReadSysctl("/proc/sys/kernel/io_uring_disabled"));
      break;
    case ENOSYS:
      msg +=
          ". The kernel has no io_uring (older than 5.1 or built without CONFIG_IO_URING), or a "
          "seccomp filter (for example a container runtime's default profile) hides the "
          "io_uring_setup system call";
      break;
    case ENOMEM:
      msg += fmt::format(
          ". Kernels before 5.12 charge rings to RLIMIT_MEMLOCK; raise it (ulimit -l) or reduce "
          "sq_entries (io_uring_disabled sysctl: {})",
          ReadSysctl("/proc/sys/kernel/io_uring_disabled"));
      break;
    case EINVAL:
      msg +=
          ". The ring size is out of range (1..32768 entries) or the kernel rejects the setup "
          "flags";
      break;
    case EMFILE:
    case ENFILE:
      msg += ". The process is out of file descriptors (ulimit -n)";
      break;
    default:
      break;
  }
  return msg;
}

Result<std::unique_ptr<Ring>> Ring::Create(const RingOptions& options,
                                           std::atomic<uint64_t>* root_seq) {
  std::unique_ptr<Ring> ring(new Ring(root_seq));
  // Newest kernels first: one submitter thread, completions run only when the loop asks for them
  // (no interrupts of the shard thread). Older kernels reject unknown flags with EINVAL, so fall
  // back step by step. R_DISABLED lets the shard thread, not this one, become the submitter.
  const unsigned common = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
  const unsigned attempts[] = {
      common | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_R_DISABLED | IORING_SETUP_SINGLE_ISSUER |
          IORING_SETUP_DEFER_TASKRUN,
      common | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN,
      common,
  };
  int err = 0;
  for (unsigned flags : attempts) {
    io_uring_params params{};
    params.flags = flags;
    params.cq_entries = std::max(options.cq_entries, options.sq_entries * 2);
    int ret = io_uring_queue_init_params(options.sq_entries, &ring->ring_, &params);
    if (ret == 0) {
      ring->initialized_ = true;
      ring->disabled_ = (flags & IORING_SETUP_R_DISABLED) != 0;
      break;
    }
    err = -ret;
    if (err != EINVAL) break;
  }
  if (!ring->initialized_) {
    // A ring size out of range is EINVAL for every flag set; report the first real cause.
    return Status::FromErrno(err, "io_uring_queue_init")
        .WithContext(DescribeRingInitFailure(err, options.sq_entries));
  }

  io_uring_probe* probe = io_uring_get_probe_ring(&ring->ring_);
  if (probe != nullptr) {
    for (int op = 0; op < kOpcodesMax && op <= probe->last_op; op++) {
      ring->supported_[static_cast<size_t>(op)] = io_uring_opcode_supported(probe, op) != 0;
    }
    io_uring_free_probe(probe);
  }
  for (int op : kRequiredOpcodes) {
    if (!ring->Supports(op)) {
      return Status::Unsupported(fmt::format(
          "io_uring on this kernel lacks opcode {} (Runnel needs Linux 5.11 or newer)", op));
    }
  }
  unsigned workers[2] = {options.iowq_bounded_workers_max, options.iowq_unbounded_workers_max};
  // Best effort: old kernels lack the limit and then use their defaults.
  (void)io_uring_register_iowq_max_workers(&ring->ring_, workers);
  return ring;
}

Ring::~Ring() {
  if (initialized_) io_uring_queue_exit(&ring_);
}

Status Ring::Enable() {
  owner_ = std::this_thread::get_id();
  if (!disabled_) return Status::Ok();
  // liburing 2.3 declares io_uring_enable_rings but its shared library does not export it.
  if (::syscall(__NR_io_uring_register, ring_.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0) <
      0) {
    return Status::FromErrno(errno, "io_uring_register(ENABLE_RINGS)");
  }
  disabled_ = false;
  return Status::Ok();
}

io_uring_sqe* Ring::GetSqe() {
  // A socket or file belongs to the shard that made it; using it from another shard's thread
  // would race on this ring's submission queue.
  RUNNEL_ASSERT_SIM(OnOwnerThread(), "an io_uring operation submitted from another shard's thread");
  for (;;) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe != nullptr) return sqe;
    // The submission queue is full: hand what is queued to the kernel and reap, which frees slots.
    int ret = io_uring_submit_and_get_events(&ring_);
    if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
      RUNNEL_ASSERT(false, "io_uring_submit failed: {}", std::strerror(-ret));
    }
  }
}

void Ring::ReserveSqes(unsigned n) {
  while (io_uring_sq_space_left(&ring_) < n) {
    int ret = io_uring_submit_and_get_events(&ring_);
    if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
      RUNNEL_ASSERT(false, "io_uring_submit failed: {}", std::strerror(-ret));
    }
  }
}

void Ring::CancelFd(int fd) {
  if (stopping_ || disabled_ || fd < 0) return;
  io_uring_sqe* sqe = GetSqe();
  io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
  io_uring_sqe_set_data(sqe, nullptr);
  // Submit now: the kernel resolves the descriptor when it issues the cancellation, so it must
  // run before the caller closes `fd`.
  (void)io_uring_submit(&ring_);
}

size_t Ring::RunReady() {
  size_t n = ready_.size();
  for (size_t i = 0; i < n; i++) {
    std::coroutine_handle<> h = ready_.front();
    ready_.pop_front();
    h.resume();
  }
  return n;
}

void Ring::Poll(bool block, Duration wait) {
  int ret;
  if (!block) {
    ret = io_uring_submit_and_get_events(&ring_);
  } else {
    io_uring_cqe* cqe = nullptr;
    if (wait == Duration::max()) {
      ret = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, nullptr, nullptr);
    } else {
      __kernel_timespec ts = ToTimespec(wait);
      ret = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    }
  }
  // -ETIME: the wait timed out; -EINTR: a signal; -EAGAIN/-EBUSY: the kernel's completion backlog
  // is full and wants us to reap first. All of those are handled by reaping.
  if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
    RUNNEL_ASSERT(false, "io_uring_enter failed: {}", std::strerror(-ret));
  }
  Reap();
}

void Ring::Reap() {
  for (;;) {
    io_uring_cqe* cqe;
    unsigned head;
    unsigned n = 0;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      n++;
      uint64_t data = cqe->user_data;
      // 0: fire-and-forget; LIBURING_UDATA_TIMEOUT: liburing's own wait timeout on old kernels.
      if (data == 0 || data == LIBURING_UDATA_TIMEOUT) continue;
      auto* c = reinterpret_cast<Completion*>(static_cast<uintptr_t>(data));
      RUNNEL_ASSERT(in_flight_ > 0, "a CQE arrived with nothing in flight");
      in_flight_--;
      c->on_cqe(c, cqe->res, cqe->flags);
    }
    if (n == 0) return;
    io_uring_cq_advance(&ring_, n);
  }
}

void Ring::StopAndDrain() {
  stopping_ = true;
  if (disabled_) return;  // never enabled: nothing was submitted
  // The kernel may still write into coroutine frames until every CQE is in, so waiting is the
  // only safe choice; past kDrainTimeMax the process aborts rather than hang without a word.
  // The cancellation is repeated: an operation linked behind a running one, or queued for an
  // io-wq worker, may not be cancellable at the moment of the first attempt.
  const auto start = std::chrono::steady_clock::now();
  while (in_flight_ > 0) {
    const auto waited = std::chrono::steady_clock::now() - start;
    RUNNEL_ASSERT(waited < kDrainTimeMax,
                  "{} io_uring operations still in flight {} ms after the cancellation", in_flight_,
                  std::chrono::duration_cast<std::chrono::milliseconds>(waited).count());
    io_uring_sqe* sqe = GetSqe();
    io_uring_prep_cancel(sqe, nullptr, IORING_ASYNC_CANCEL_ANY);
    io_uring_sqe_set_data(sqe, nullptr);
    // The cancellation's own CQE satisfies a wait for one, so wait out the retry period unless
    // everything completed.
    const auto retry_at = std::chrono::steady_clock::now() + kDrainRetryWait;
    for (;;) {
      const auto now = std::chrono::steady_clock::now();
      if (in_flight_ == 0 || now >= retry_at) break;
      Poll(true, std::chrono::duration_cast<Duration>(retry_at - now));
    }
  }
  // Flush anything queued (fire-and-forget cancellations) so the kernel holds no more work.
  Poll(false, Duration::zero());
}

void Ring::OnRootStart(std::coroutine_handle<> root) {
  roots_.emplace(root.address(), root_seq_->fetch_add(1, std::memory_order_relaxed));
}

void Ring::OnRootDone(std::coroutine_handle<> root) { roots_.erase(root.address()); }

void Ring::CollectRoots(std::vector<std::pair<uint64_t, std::coroutine_handle<>>>& out) const {
  for (const auto& [address, seq] : roots_) {
    out.emplace_back(seq, std::coroutine_handle<>::from_address(address));
  }
}

void Ring::ForgetAll() {
  ready_.clear();
  roots_.clear();
}

}  // namespace runnel::uring
