// Ring: one shard's io_uring and its FIFO ready queue. It is the shard's Executor: coroutines
// scheduled on it are resumed from the shard loop (runtime.cc), in the order scheduled, and I/O
// operations are submitted to its io_uring and resume their coroutine when their completion
// arrives.
//
// Owner and thread: created by UringRuntime (on the main thread, disabled), then used only by its
// shard thread, which enables it (IORING_SETUP_SINGLE_ISSUER) and runs the loop. After every shard
// thread has joined, the runtime destroys the roots still suspended, from the main thread.
//
// Invariants:
// - Every SQE whose completion matters carries a Completion* as user_data, and in_flight() counts
//   them; an SQE with user_data 0 is fire-and-forget (cancellations).
// - A coroutine frame is never destroyed while one of its operations is in flight: the kernel
//   would write into freed memory. OpAwaiter asserts it; shutdown drains in-flight operations
//   before it destroys suspended roots.
// - Once stopping, new operations fail at once with -ECANCELED without reaching the kernel.
#pragma once

#include <liburing.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <coroutine>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>

#include "io/clock.h"
#include "io/status.h"
#include "io/task.h"

namespace runnel::uring {

// IORING_OP_FTRUNCATE (Linux 6.9) is newer than the liburing headers we build against; the ring
// uses it only when the kernel's probe reports it.
inline constexpr int kOpFtruncate = 55;

struct RingOptions {
  uint32_t sq_entries = 512;    // submission queue slots (the kernel rounds up to 2^n)
  uint32_t cq_entries = 16384;  // completion queue slots; overflow is buffered (FEAT_NODROP)
  // io-wq worker threads per ring: bounded = regular file I/O, unbounded = sockets, pipes, splice.
  uint32_t iowq_bounded_workers_max = 64;
  uint32_t iowq_unbounded_workers_max = 256;
};

// Something the ring calls back when a CQE carrying it as user_data arrives.
struct Completion {
  using Fn = void (*)(Completion* self, int32_t res, uint32_t cqe_flags);
  Fn on_cqe = nullptr;
};

// Explains why io_uring_queue_init failed (errno text, sysctl value, seccomp and container hints).
std::string DescribeRingInitFailure(int err, uint32_t sq_entries);

class Ring final : public Executor {
 public:
  // Creates a disabled ring. `root_seq` numbers detached roots across all shards of a runtime so
  // shutdown can destroy them newest first. Fails with a clear message when io_uring is
  // unavailable (see DescribeRingInitFailure).
  static Result<std::unique_ptr<Ring>> Create(const RingOptions& options,
                                              std::atomic<uint64_t>* root_seq);
  ~Ring() override;
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  // Called once on the shard thread before the loop starts: from then on only that thread submits.
  Status Enable();

  // Executor. Only the shard's own thread may schedule on it: a coroutine on another shard
  // comes here through the mailboxes (Invoke / SwitchTo), never by calling this.
  void Schedule(std::coroutine_handle<> h) override {
    RUNNEL_ASSERT_SIM(OnOwnerThread(), "Schedule on a shard's executor from another thread");
    ready_.push_back(h);
  }

  // Whether the running kernel implements `opcode` (from io_uring's probe).
  bool Supports(int opcode) const {
    return opcode >= 0 && opcode < kOpcodesMax && supported_[static_cast<size_t>(opcode)];
  }

  // --- Submitting -------------------------------------------------------------------------------
  // Returns a free SQE, submitting what is queued if the submission queue is full.
  io_uring_sqe* GetSqe();
  // Ensures `n` SQEs can be taken without an intervening submit (for linked chains).
  void ReserveSqes(unsigned n);
  // Marks `sqe` as owned by `c`: the CQE will call c->on_cqe.
  void Track(io_uring_sqe* sqe, Completion* c) {
    io_uring_sqe_set_data(sqe, c);
    in_flight_++;
  }
  // Cancels every operation in flight on `fd` now (before the caller closes it). Fire-and-forget;
  // the cancelled operations complete with -ECANCELED. No-op once stopping.
  void CancelFd(int fd);

  // --- The loop (runtime.cc drives these) -------------------------------------------------------
  bool has_ready() const { return !ready_.empty(); }
  // Resumes the tasks that were ready on entry (not those they schedule). Returns how many ran.
  size_t RunReady();
  // Submits queued SQEs and reaps CQEs. With `block`, waits up to `wait` for at least one CQE
  // (Duration::max(): no limit).
  void Poll(bool block, Duration wait);

  // --- Shutdown ---------------------------------------------------------------------------------
  bool stopping() const { return stopping_; }
  // Refuses new operations and cancels those in flight; then waits (on the shard thread) until
  // every tracked operation has completed.
  void StopAndDrain();
  // Appends the roots still suspended on this ring, with their spawn numbers.
  void CollectRoots(std::vector<std::pair<uint64_t, std::coroutine_handle<>>>& out) const;
  // Forgets ready handles and roots: called after the roots were destroyed.
  void ForgetAll();

  uint64_t in_flight() const { return in_flight_; }
  uint64_t roots_tracked() const { return roots_.size(); }

  // --- Awaitables -------------------------------------------------------------------------------
  // co_await ring.Op([&](io_uring_sqe* sqe) { io_uring_prep_read(sqe, ...); }) -> int32_t res
  template <typename Prep>
  class OpAwaiter : public Completion {
   public:
    OpAwaiter(Ring& ring, Prep prep) : ring_(ring), prep_(std::move(prep)) { on_cqe = &OnCqe; }
    OpAwaiter(const OpAwaiter&) = delete;
    OpAwaiter& operator=(const OpAwaiter&) = delete;
    ~OpAwaiter() {
      RUNNEL_ASSERT(!pending_, "a coroutine frame was destroyed with an io_uring op in flight");
    }
    bool await_ready() noexcept {
      if (!ring_.stopping()) return false;
      res_ = -ECANCELED;
      return true;
    }
    void await_suspend(std::coroutine_handle<> h) {
      h_ = h;
      io_uring_sqe* sqe = ring_.GetSqe();
      prep_(sqe);
      ring_.Track(sqe, this);
      pending_ = true;
    }
    int32_t await_resume() noexcept { return res_; }

   private:
    static void OnCqe(Completion* c, int32_t res, uint32_t flags) {
      auto* self = static_cast<OpAwaiter*>(c);
      self->res_ = res;
      self->pending_ = false;
      self->ring_.Schedule(self->h_);
    }
    Ring& ring_;
    Prep prep_;
    std::coroutine_handle<> h_;
    int32_t res_ = 0;
    bool pending_ = false;
  };
  template <typename Prep>
  OpAwaiter<Prep> Op(Prep prep) {
    return OpAwaiter<Prep>(*this, std::move(prep));
  }

  // Up to kChainOpsMax SQEs linked with IOSQE_IO_LINK: each starts only when the one before it
  // completed in full (a failed or short one cancels the rest with -ECANCELED). prep(i, sqe)
  // prepares op i. Resolves with every result once all CQEs arrived.
  static constexpr size_t kChainOpsMax = 32;
  using ChainResults = std::array<int32_t, kChainOpsMax>;
  template <typename Prep>
  class ChainAwaiter {
   public:
    ChainAwaiter(Ring& ring, size_t n, Prep prep) : ring_(ring), n_(n), prep_(std::move(prep)) {
      RUNNEL_ASSERT(n > 0 && n <= kChainOpsMax, "chain of {} ops (kChainOpsMax {})", n,
                    kChainOpsMax);
      for (Part& p : parts_) {
        p.owner = this;
        p.on_cqe = &OnCqe;
      }
    }
    ChainAwaiter(const ChainAwaiter&) = delete;
    ChainAwaiter& operator=(const ChainAwaiter&) = delete;
    ~ChainAwaiter() {
      RUNNEL_ASSERT(pending_ == 0, "a coroutine frame was destroyed with io_uring ops in flight");
    }
    bool await_ready() noexcept {
      if (!ring_.stopping()) return false;
      for (Part& p : parts_) p.res = -ECANCELED;
      return true;
    }
    void await_suspend(std::coroutine_handle<> h) {
      h_ = h;
      ring_.ReserveSqes(static_cast<unsigned>(n_));
      for (size_t i = 0; i < n_; i++) {
        io_uring_sqe* sqe = ring_.GetSqe();
        prep_(i, sqe);
        if (i + 1 < n_) sqe->flags |= IOSQE_IO_LINK;
        ring_.Track(sqe, &parts_[i]);
      }
      pending_ = n_;
    }
    ChainResults await_resume() noexcept {
      ChainResults out{};
      for (size_t i = 0; i < kChainOpsMax; i++) out[i] = parts_[i].res;
      return out;
    }

   private:
    struct Part : Completion {
      ChainAwaiter* owner = nullptr;
      int32_t res = -ECANCELED;
    };
    static void OnCqe(Completion* c, int32_t res, uint32_t flags) {
      auto* part = static_cast<Part*>(c);
      part->res = res;
      ChainAwaiter* self = part->owner;
      if (--self->pending_ == 0) self->ring_.Schedule(self->h_);
    }
    Ring& ring_;
    size_t n_;
    Prep prep_;
    std::array<Part, kChainOpsMax> parts_;
    std::coroutine_handle<> h_;
    size_t pending_ = 0;
  };
  template <typename Prep>
  ChainAwaiter<Prep> Chain(size_t n, Prep prep) {
    return ChainAwaiter<Prep>(*this, n, std::move(prep));
  }

 protected:
  void OnRootStart(std::coroutine_handle<> root) override;
  void OnRootDone(std::coroutine_handle<> root) override;

 private:
  static constexpr int kOpcodesMax = 256;
  // True on the shard thread, before it started, and once stopping (shutdown runs elsewhere).
  bool OnOwnerThread() const {
    return stopping_ || owner_ == std::thread::id() || owner_ == std::this_thread::get_id();
  }
  Ring(std::atomic<uint64_t>* root_seq) : root_seq_(root_seq) {}
  void Reap();

  io_uring ring_{};
  bool initialized_ = false;
  bool disabled_ = false;  // created with IORING_SETUP_R_DISABLED, waiting for Enable()
  bool stopping_ = false;
  std::thread::id owner_;  // the shard thread, once Enable ran
  uint64_t in_flight_ = 0;
  std::array<bool, kOpcodesMax> supported_{};
  std::deque<std::coroutine_handle<>> ready_;
  // Detached roots not yet finished: frame address -> runtime-wide spawn number.
  std::unordered_map<void*, uint64_t> roots_;
  std::atomic<uint64_t>* root_seq_;
};

}  // namespace runnel::uring
