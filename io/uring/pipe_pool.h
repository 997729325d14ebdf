// PipePool: the pipes SendFile splices through (file -> pipe -> socket, both halves in io_uring),
// so file bytes move as page references and never enter user space.
//
// Owner and thread: one per shard (inside UringNetwork), used only from that shard's thread.
// A SendFile borrows one pipe for its duration; concurrent SendFiles on different sockets use
// different pipes. Invariant: an idle pipe is empty. A pipe that may still hold bytes (the send
// failed half way) is closed instead of returned. At most kIdlePipesMax idle pipes are kept.
#pragma once

#include <vector>

#include "io/status.h"

namespace runnel::uring {

struct Pipe {
  int read_fd = -1;
  int write_fd = -1;
  size_t capacity_bytes = 0;  // what one splice into it can move
};

class PipePool {
 public:
  static constexpr size_t kIdlePipesMax = 16;
  // Asked of the kernel per pipe (F_SETPIPE_SZ); capped by /proc/sys/fs/pipe-max-size.
  static constexpr size_t kPipeBytesWanted = size_t{1} << 20;

  PipePool() = default;
  ~PipePool();
  PipePool(const PipePool&) = delete;
  PipePool& operator=(const PipePool&) = delete;

  Result<Pipe> Acquire();
  // Returns an empty pipe for reuse.
  void Release(Pipe pipe);
  // Closes a pipe that may hold bytes.
  static void Discard(Pipe pipe);

  size_t idle() const { return idle_.size(); }

 private:
  std::vector<Pipe> idle_;
};

}  // namespace runnel::uring
