// Shards: the cross-shard mailboxes of one node. A partition (and everything else with state)
// belongs to exactly one shard; code that needs another shard's state moves there with
// Invoke (or SwitchTo), does its work with that shard's Io, and comes back.
//
// Production: one SPSC queue per (sender, receiver) pair with an eventfd wake-up; the coroutine
// frame itself travels (its handle is posted and resumed on the target thread). Simulation:
// a post is an event on the one simulator thread, delivered after a seed-chosen delay.
#pragma once

#include <coroutine>
#include <cstdint>
#include <type_traits>

#include "io/task.h"

namespace runnel {

using ShardId = uint32_t;

class Io;

class Shards {
 public:
  virtual ~Shards() = default;

  virtual ShardId self() const = 0;
  virtual uint32_t count() const = 0;

  // Resumes `h` on shard `to`'s loop. Posting to self() schedules it on this loop.
  virtual void Post(ShardId to, std::coroutine_handle<> h) = 0;

  // The Io of shard `id`; only to be used by code running on that shard.
  virtual Io& IoOf(ShardId id) = 0;
};

// The mailboxes of the shard that owns `io` (defined in io.h, which sees Io's definition).
Shards& ShardsOf(Io& io);

// co_await SwitchTo{shards, to}: the rest of the coroutine runs on shard `to`. `shards` must be
// the mailboxes of the shard the coroutine is running on now.
struct SwitchTo {
  Shards& shards;
  ShardId to;
  bool await_ready() noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) { shards.Post(to, h); }
  void await_resume() noexcept {}
};

// Runs fn(target_io) on shard `to` and resumes the caller on its own shard with the result.
// `fn` is a callable returning Task<T>; it runs with the target shard's Io. Whatever fn
// captures by reference must be safe to read from the target shard (immutable or owned).
template <typename T, typename Fn>
Task<T> Invoke(Shards& from, ShardId to, Fn fn) {
  const ShardId home = from.self();
  if (to == home) co_return co_await fn(from.IoOf(to));
  Io& there = from.IoOf(to);
  co_await SwitchTo{from, to};
  // Now on shard `to`: post back through that shard's own mailboxes.
  Shards& back = ShardsOf(there);
  if constexpr (std::is_void_v<T>) {
    co_await fn(there);
    co_await SwitchTo{back, home};
  } else {
    T result = co_await fn(there);
    co_await SwitchTo{back, home};
    co_return result;
  }
}

}  // namespace runnel
