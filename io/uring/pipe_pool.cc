#include "io/uring/pipe_pool.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace runnel::uring {

PipePool::~PipePool() {
  for (const Pipe& p : idle_) Discard(p);
}

Result<Pipe> PipePool::Acquire() {
  if (!idle_.empty()) {
    Pipe p = idle_.back();
    idle_.pop_back();
    return p;
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Status::FromErrno(errno, "pipe2 for send_file");
  Pipe p{fds[0], fds[1], 0};
  // A bigger pipe means fewer splices per send; unprivileged processes may get less than asked.
  int got = ::fcntl(p.write_fd, F_SETPIPE_SZ, static_cast<int>(kPipeBytesWanted));
  if (got < 0) got = ::fcntl(p.write_fd, F_GETPIPE_SZ);
  if (got <= 0) {
    int err = errno;
    Discard(p);
    return Status::FromErrno(err, "F_GETPIPE_SZ");
  }
  p.capacity_bytes = static_cast<size_t>(got);
  return p;
}

void PipePool::Release(Pipe pipe) {
  if (idle_.size() >= kIdlePipesMax) {
    Discard(pipe);
    return;
  }
  idle_.push_back(pipe);
}

void PipePool::Discard(Pipe pipe) {
  if (pipe.read_fd >= 0) ::close(pipe.read_fd);
  if (pipe.write_fd >= 0) ::close(pipe.write_fd);
}

}  // namespace runnel::uring
