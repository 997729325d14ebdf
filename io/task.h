// Task<T>: a lazy coroutine that runs on one shard's loop. Nothing here is thread-safe: a task,
// its awaiters and the Executor it was spawned on belong to one shard thread (or to the one
// simulator thread).
//
//   Task<int> Answer() { co_return 42; }
//   Task<void> Main(Executor& ex) { int x = co_await Answer(); ... }
//   executor.Spawn(Main(executor));     // detached root task, started on the next loop turn
//
// Ownership: a Task owns its coroutine frame until it is awaited to completion or destroyed;
// destroying a suspended Task destroys its frame and, recursively, the frames it is awaiting.
// The simulator relies on this to make a crashed node's coroutines vanish.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <optional>
#include <utility>
#include <vector>

#include "io/assert.h"

namespace runnel {

template <typename T = void>
class Task;

// Where ready coroutines run. Implementations: the io_uring shard loop (FIFO) and the
// simulator (ready tasks at one instant run in a seed-chosen order).
class Executor {
 public:
  virtual ~Executor() = default;

  // Makes `h` runnable; it is resumed later from the executor's loop, never inline.
  virtual void Schedule(std::coroutine_handle<> h) = 0;

  // Starts `task` as a detached root on this executor: it begins on a later loop turn and its
  // frame is freed when it completes. A root must own (not borrow) everything it touches.
  void Spawn(Task<void> task);

  // Roots spawned and not yet finished (for leak checks and shutdown).
  uint64_t roots_live() const { return roots_live_; }

 protected:
  // Hooks for implementations that track roots (the simulator destroys a crashed node's roots).
  // OnRootStart runs at Spawn; OnRootDone when the root finishes normally (not when destroyed).
  virtual void OnRootStart(std::coroutine_handle<> root) { (void)root; }
  virtual void OnRootDone(std::coroutine_handle<> root) { (void)root; }

 private:
  friend struct DetachedPromise;
  uint64_t roots_live_ = 0;
};

namespace detail {

[[noreturn]] void UnhandledException();

struct PromiseBase {
  std::coroutine_handle<> continuation = std::noop_coroutine();
  // The awaiter's await_suspend is still running this task (it started it with resume()). A
  // task that ends then hands control back through that call instead of resuming the awaiter
  // from its own frame: a loop awaiting tasks that finish without suspending (a buffered read)
  // would otherwise nest one resume per iteration wherever the compiler does not turn the
  // symmetric transfer into a tail call (ASan builds, -O0) and overflow the stack.
  bool started_inline = false;
  bool ended_inline = false;

  std::suspend_always initial_suspend() noexcept { return {}; }

  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    template <typename P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
      PromiseBase& p = h.promise();
      if (p.started_inline) {
        p.ended_inline = true;
        return std::noop_coroutine();
      }
      return p.continuation;
    }
    void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }
  void unhandled_exception() noexcept { UnhandledException(); }
};

template <typename T>
struct Promise : PromiseBase {
  std::optional<T> value;
  Task<T> get_return_object() noexcept;
  template <typename U>
  void return_value(U&& v) {
    value.emplace(std::forward<U>(v));
  }
};

template <>
struct Promise<void> : PromiseBase {
  Task<void> get_return_object() noexcept;
  void return_void() noexcept {}
};

}  // namespace detail

template <typename T>
class [[nodiscard]] Task {
 public:
  using promise_type = detail::Promise<T>;
  using Handle = std::coroutine_handle<promise_type>;

  Task() = default;
  explicit Task(Handle h) : h_(h) {}
  Task(Task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      Reset();
      h_ = std::exchange(o.h_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { Reset(); }

  bool valid() const { return static_cast<bool>(h_); }
  bool done() const { return h_ && h_.done(); }

  // co_await task: starts it (it was created suspended) and resumes the awaiter when it ends.
  auto operator co_await() && noexcept {
    struct Awaiter {
      Handle h;
      bool await_ready() noexcept { return false; }
      // Runs the task here; true (the awaiter stays suspended) if it suspended before its end,
      // false (the awaiter goes on at once, on this stack frame) if it already ended. Tasks of
      // one shard run on its thread only, so nothing resumes the task before this returns.
      bool await_suspend(std::coroutine_handle<> awaiting) noexcept {
        detail::PromiseBase& p = h.promise();
        p.continuation = awaiting;
        p.started_inline = true;
        h.resume();
        p.started_inline = false;
        return !p.ended_inline;
      }
      T await_resume() {
        if constexpr (!std::is_void_v<T>) {
          RUNNEL_ASSERT(h.promise().value.has_value(), "task finished without a value");
          return std::move(*h.promise().value);
        }
      }
    };
    RUNNEL_ASSERT(h_, "co_await on an empty Task");
    return Awaiter{h_};
  }

  // Gives up ownership of the frame (used by the detached wrapper and WhenAll).
  Handle Release() { return std::exchange(h_, {}); }

 private:
  void Reset() {
    if (h_) h_.destroy();
    h_ = {};
  }
  Handle h_;
};

namespace detail {
template <typename T>
Task<T> Promise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<Promise<T>>::from_promise(*this));
}
inline Task<void> Promise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<Promise<void>>::from_promise(*this));
}
}  // namespace detail

// The detached root coroutine that Executor::Spawn wraps a task in.
struct DetachedPromise;
struct Detached {
  using promise_type = DetachedPromise;
  std::coroutine_handle<DetachedPromise> h;
};
struct DetachedPromise {
  Executor* executor = nullptr;
  Detached get_return_object() noexcept {
    return {std::coroutine_handle<DetachedPromise>::from_promise(*this)};
  }
  std::suspend_always initial_suspend() noexcept { return {}; }
  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    void await_suspend(std::coroutine_handle<DetachedPromise> h) noexcept {
      Executor* ex = h.promise().executor;
      ex->roots_live_--;
      ex->OnRootDone(h);
      h.destroy();
    }
    void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }
  void return_void() noexcept {}
  void unhandled_exception() noexcept { detail::UnhandledException(); }
};

namespace detail {
inline Detached RunDetached(Task<void> task) { co_await std::move(task); }
}  // namespace detail

inline void Executor::Spawn(Task<void> task) {
  Detached d = detail::RunDetached(std::move(task));
  d.h.promise().executor = this;
  roots_live_++;
  OnRootStart(d.h);
  Schedule(d.h);
}

// co_await Yield(ex): lets other ready tasks run first.
struct Yield {
  Executor& executor;
  bool await_ready() noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) { executor.Schedule(h); }
  void await_resume() noexcept {}
};

namespace detail {

// A child coroutine of WhenAll: runs one task, then hands control to the parent if it is the
// last to finish. Its frame is owned by the WhenAll awaiter (destroyed with the parent).
struct WhenAllChildPromise;
struct WhenAllChild {
  using promise_type = WhenAllChildPromise;
  std::coroutine_handle<WhenAllChildPromise> h;
};
struct WhenAllLatch {
  size_t remaining;
  std::coroutine_handle<> parent;
};
struct WhenAllChildPromise {
  WhenAllLatch* latch = nullptr;
  WhenAllChild get_return_object() noexcept {
    return {std::coroutine_handle<WhenAllChildPromise>::from_promise(*this)};
  }
  std::suspend_always initial_suspend() noexcept { return {}; }
  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<WhenAllChildPromise> h) noexcept {
      WhenAllLatch* l = h.promise().latch;
      if (--l->remaining == 0) return l->parent;
      return std::noop_coroutine();
    }
    void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }
  void return_void() noexcept {}
  void unhandled_exception() noexcept { UnhandledException(); }
};

template <typename T>
WhenAllChild RunChild(Task<T>& task, std::optional<T>& out) {
  out.emplace(co_await std::move(task));
}
inline WhenAllChild RunChildVoid(Task<void>& task) { co_await std::move(task); }

// Owns the child frames so a destroyed parent destroys its children.
struct ChildFrames {
  std::vector<std::coroutine_handle<WhenAllChildPromise>> frames;
  ChildFrames() = default;
  ChildFrames(const ChildFrames&) = delete;
  ChildFrames& operator=(const ChildFrames&) = delete;
  ~ChildFrames() {
    for (auto h : frames) h.destroy();
  }
};

struct WhenAllAwaiter {
  ChildFrames& children;
  WhenAllLatch latch{0, {}};
  bool await_ready() noexcept { return children.frames.empty(); }
  bool await_suspend(std::coroutine_handle<> parent) noexcept {
    latch.remaining = children.frames.size() + 1;
    latch.parent = parent;
    for (auto h : children.frames) {
      h.promise().latch = &latch;
      h.resume();
    }
    // Children that finished inline already counted down; suspend only if some are pending.
    return --latch.remaining != 0;
  }
  void await_resume() noexcept {}
};

}  // namespace detail

// Runs all tasks concurrently on this shard; resolves when all have finished, with their results
// in order. The tasks start in order, each running until its first suspension.
template <typename T>
Task<std::vector<T>> WhenAll(std::vector<Task<T>> tasks) {
  std::vector<std::optional<T>> results(tasks.size());
  {
    detail::ChildFrames children;
    children.frames.reserve(tasks.size());
    for (size_t i = 0; i < tasks.size(); i++) {
      children.frames.push_back(detail::RunChild(tasks[i], results[i]).h);
    }
    co_await detail::WhenAllAwaiter{children};
  }
  std::vector<T> out;
  out.reserve(results.size());
  for (auto& r : results) out.push_back(std::move(*r));
  co_return out;
}

inline Task<void> WhenAll(std::vector<Task<void>> tasks) {
  detail::ChildFrames children;
  children.frames.reserve(tasks.size());
  for (auto& t : tasks) children.frames.push_back(detail::RunChildVoid(t).h);
  co_await detail::WhenAllAwaiter{children};
}

}  // namespace runnel
