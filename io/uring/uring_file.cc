#include "io/uring/uring_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace runnel::uring {
namespace {

// One io_uring read or write moves at most this much (the CQE result is a 32-bit int).
constexpr size_t kOpBytesMax = size_t{1} << 30;

// Transient results an operation is simply retried on.
bool Retryable(int32_t res) { return res == -EINTR || res == -EAGAIN; }

Status ClosedStatus(const std::string& path) {
  return Status::Closed(fmt::format("{}: file is closed", path));
}

constexpr uint64_t kBlockMask = kDirectIoAlignment - 1;

// Holds a staging buffer for one direct append and gives it back to the pool afterwards (also
// when the frame is destroyed at shutdown, after the ring drained its operations).
struct StagingLease {
  std::shared_ptr<StagingPool> pool;
  StagingPool::Buffer buffer;
  ~StagingLease() {
    if (buffer) pool->Give(std::move(buffer));
  }
};

}  // namespace

void StagingPool::FreeAligned::operator()(std::byte* p) const { std::free(p); }

StagingPool::Buffer StagingPool::Take() {
  if (!spares_.empty()) {
    Buffer b = std::move(spares_.back());
    spares_.pop_back();
    return b;
  }
  return Buffer(static_cast<std::byte*>(std::aligned_alloc(kDirectIoAlignment, kStagingBytes)));
}

void StagingPool::Give(Buffer b) {
  if (spares_.size() < kSparesMax) spares_.push_back(std::move(b));
}

UringFile::UringFile(Ring& ring, int fd, std::string path, bool direct, UringFileOptions options,
                     std::shared_ptr<StagingPool> staging)
    : ring_(ring),
      fd_(fd),
      path_(std::move(path)),
      direct_(direct),
      drop_behind_bytes_(direct ? 0 : options.drop_behind_bytes),
      direct_append_bytes_(direct || staging == nullptr ? 0 : options.direct_append_bytes),
      staging_(std::move(staging)) {}

UringFile::~UringFile() {
  if (fd_ >= 0) ::close(fd_);
  if (direct_fd_ >= 0) ::close(direct_fd_);
}

Status UringFile::CheckDirect(uint64_t offset, const void* data, size_t len) const {
  if (!direct_) return Status::Ok();
  if (offset % kDirectIoAlignment != 0 || len % kDirectIoAlignment != 0 ||
      reinterpret_cast<uintptr_t>(data) % kDirectIoAlignment != 0) {
    return Status::InvalidArgument(
        fmt::format("{}: O_DIRECT needs offset, length and buffer aligned to {} (offset {}, "
                    "length {})",
                    path_, kDirectIoAlignment, offset, len));
  }
  return Status::Ok();
}

Task<Result<size_t>> UringFile::ReadAt(uint64_t offset, std::span<std::byte> buf) {
  if (fd_ < 0) co_return ClosedStatus(path_);
  RUNNEL_CO_TRY(CheckDirect(offset, buf.data(), buf.size()));
  size_t done = 0;
  while (done < buf.size()) {
    const size_t want = std::min(buf.size() - done, kOpBytesMax);
    int32_t res = co_await ring_.Op([&](io_uring_sqe* sqe) {
      io_uring_prep_read(sqe, fd_, buf.data() + done, static_cast<unsigned>(want), offset + done);
    });
    if (Retryable(res)) continue;
    if (res < 0) {
      co_return Status::FromErrno(-res, fmt::format("read {} at {}", path_, offset + done));
    }
    if (res == 0) break;  // end of file
    done += static_cast<size_t>(res);
    // A short O_DIRECT read is the end of the file unless it stopped on an aligned boundary.
    if (direct_ && done % kDirectIoAlignment != 0) break;
  }
  co_return done;
}

Task<Status> UringFile::WriteAt(uint64_t offset, std::span<const std::byte> data) {
  if (fd_ < 0) co_return ClosedStatus(path_);
  RUNNEL_CO_TRY(CheckDirect(offset, data.data(), data.size()));
  if (direct_append_bytes_ == 0 || direct_refused_ || data.size() < direct_append_bytes_) {
    RUNNEL_CO_TRY(co_await WriteBuffered(offset, data));
    if (drop_behind_bytes_ != 0) co_await DropBehind(offset + data.size());
    co_return Status::Ok();
  }
  // Direct appends queue per file: each starts from the block the previous left, and the one at
  // the front writes itself and the appends queued right behind it in one go.
  AppendWaiter me{.offset = offset, .data = data, .status = Status::Ok(), .h = {}};
  appends_.push_back(&me);
  if (appends_.size() > 1) co_await ParkedAppend{me};
  if (!me.done) co_await LeadAppends();
  co_return me.status;
}

Task<void> UringFile::LeadAppends() {
  AppendWaiter* const first = appends_.front();
  if (!end_known_ && buffered_in_flight_ == 0) {
    Result<uint64_t> size = SizeNow();
    if (size.ok()) {
      end_ = *size;
      end_known_ = true;
      tail_known_ = false;
    }
  }
  // The batch: the front, then the appends that follow it byte for byte, while they fit in
  // one staging buffer.
  size_t count = 1;
  std::vector<std::span<const std::byte>> parts{first->data};
  const bool direct = !direct_refused_ && buffered_in_flight_ == 0 && end_known_ &&
                      first->offset == end_ && (co_await PrepareDirect()).ok();
  if (direct) {
    uint64_t next = first->offset + first->data.size();
    size_t bytes = tail_.size() + first->data.size();
    while (count < appends_.size() && appends_[count]->offset == next &&
           bytes + appends_[count]->data.size() <= StagingPool::kStagingBytes) {
      parts.push_back(appends_[count]->data);
      next += appends_[count]->data.size();
      bytes += appends_[count]->data.size();
      count++;
    }
  }
  Status written;
  if (direct) {
    written = co_await AppendDirect(parts);
  } else {
    written = co_await WriteBuffered(first->offset, first->data);
    if (written.ok() && drop_behind_bytes_ != 0) {
      co_await DropBehind(first->offset + first->data.size());
    }
  }
  // Done: wake the batch's other appends and hand the front to the next one in line.
  for (size_t i = 0; i < count; i++) {
    AppendWaiter* w = appends_.front();
    appends_.pop_front();
    w->status = written;
    w->done = true;
    if (w != first) ring_.Schedule(w->h);
  }
  if (!appends_.empty()) ring_.Schedule(appends_.front()->h);
}

Task<Status> UringFile::WriteBuffered(uint64_t offset, std::span<const std::byte> data) {
  buffered_in_flight_++;
  other_writes_++;
  tail_known_ = false;
  Status written = co_await WriteThroughCache(offset, data);
  buffered_in_flight_--;
  other_writes_++;
  if (!written.ok()) {
    end_known_ = false;
  } else if (end_known_) {
    end_ = std::max(end_, offset + data.size());
  }
  co_return written;
}

Task<Status> UringFile::WriteThroughCache(uint64_t offset, std::span<const std::byte> data) {
  size_t done = 0;
  while (done < data.size()) {
    const size_t want = std::min(data.size() - done, kOpBytesMax);
    int32_t res = co_await ring_.Op([&](io_uring_sqe* sqe) {
      io_uring_prep_write(sqe, fd_, data.data() + done, static_cast<unsigned>(want), offset + done);
    });
    if (Retryable(res)) continue;
    if (res < 0) {
      co_return Status::FromErrno(-res, fmt::format("write {} at {}", path_, offset + done));
    }
    if (res == 0) {
      co_return Status::Io(fmt::format("write {} at {}: no progress", path_, offset + done));
    }
    done += static_cast<size_t>(res);
  }
  co_return Status::Ok();
}

Task<Status> UringFile::PrepareDirect() {
  if (direct_fd_ < 0) {
    // A second open file description of the same inode, found through /proc even if the file
    // was renamed or removed since.
    const std::string self = fmt::format("/proc/self/fd/{}", fd_);
    int32_t res;
    do {
      res = co_await ring_.Op([&](io_uring_sqe* sqe) {
        io_uring_prep_openat(sqe, AT_FDCWD, self.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC, 0);
      });
    } while (res == -EINTR || res == -EAGAIN);
    if (res < 0) {
      direct_refused_ = true;
      co_return Status::FromErrno(-res, fmt::format("open {} with O_DIRECT", path_));
    }
    direct_fd_ = res;
  }
  if (!tail_known_) {
    const uint64_t base = end_ & ~kBlockMask;
    tail_.resize(static_cast<size_t>(end_ - base));
    size_t done = 0;
    while (done < tail_.size()) {
      int32_t res = co_await ring_.Op([&](io_uring_sqe* sqe) {
        io_uring_prep_read(sqe, fd_, tail_.data() + done,
                           static_cast<unsigned>(tail_.size() - done), base + done);
      });
      if (Retryable(res)) continue;
      if (res < 0) co_return Status::FromErrno(-res, fmt::format("read {} at {}", path_, base));
      if (res == 0) co_return Status::Io(fmt::format("read {} at {}: short", path_, base));
      done += static_cast<size_t>(res);
    }
    tail_known_ = true;
  }
  co_return Status::Ok();
}

Task<Status> UringFile::AppendDirect(std::span<const std::span<const std::byte>> parts) {
  StagingLease lease{staging_, staging_->Take()};
  if (!lease.buffer) {
    uint64_t at = end_;
    for (std::span<const std::byte> part : parts) {
      RUNNEL_CO_TRY(co_await WriteBuffered(at, part));
      at += part.size();
    }
    co_return Status::Ok();
  }
  std::byte* const buf = lease.buffer.get();
  // Writes through the page cache that overlap this one (smaller appends after it) leave the
  // size and the last block unknown; they never touch the bytes this one writes.
  const uint64_t others = other_writes_;
  uint64_t end = end_;
  size_t part = 0;  // where the copying stands: parts[part], from byte `pos`
  size_t pos = 0;
  while (part < parts.size()) {
    // One chunk: the last partial block's bytes, then as much new data as the buffer holds.
    const uint64_t base = end & ~kBlockMask;
    const size_t k = tail_.size();
    std::memcpy(buf, tail_.data(), k);
    size_t total = k;
    while (part < parts.size() && total < StagingPool::kStagingBytes) {
      const size_t n = std::min(parts[part].size() - pos, StagingPool::kStagingBytes - total);
      std::memcpy(buf + total, parts[part].data() + pos, n);
      total += n;
      pos += n;
      if (pos == parts[part].size()) {
        part++;
        pos = 0;
      }
    }
    const size_t whole = total & ~static_cast<size_t>(kBlockMask);
    size_t done = 0;
    while (done < whole && !direct_refused_) {
      int32_t res = co_await ring_.Op([&](io_uring_sqe* sqe) {
        io_uring_prep_write(sqe, direct_fd_, buf + done, static_cast<unsigned>(whole - done),
                            base + done);
      });
      if (Retryable(res)) continue;
      if (res == -EINVAL) {
        // The file system takes O_DIRECT opens but not these writes: the page cache takes
        // them from now on.
        direct_refused_ = true;
        break;
      }
      if (res <= 0) {
        end_known_ = tail_known_ = false;
        if (res == 0) {
          co_return Status::Io(fmt::format("write {} at {}: no progress", path_, base + done));
        }
        co_return Status::FromErrno(-res, fmt::format("write {} at {}", path_, base + done));
      }
      done += static_cast<size_t>(res);
      if (done % kDirectIoAlignment != 0) break;  // a short write off the block grid
    }
    // What O_DIRECT did not write: the new partial block, or the rest after a refusal or a
    // short write, from the staging copy (bytes before `end` are rewritten as they are).
    const uint64_t from = std::max<uint64_t>(base + done, end);
    if (base + total > from) {
      Status written = co_await WriteThroughCache(
          from, std::span<const std::byte>(buf + (from - base), base + total - from));
      if (!written.ok()) {
        end_known_ = tail_known_ = false;
        co_return written;
      }
    }
    end = base + total;
    tail_.assign(buf + whole, buf + total);
  }
  if (other_writes_ == others) {
    end_ = end;
    end_known_ = tail_known_ = true;
  } else {
    end_known_ = tail_known_ = false;
  }
  co_return Status::Ok();
}

Task<void> UringFile::DropBehind(uint64_t end) {
  const uint64_t w = drop_behind_bytes_;
  if (end < written_back_to_ + 2 * w) co_return;
  const uint64_t drop_from = dropped_to_;
  const uint64_t drop_to = written_back_to_;
  const uint64_t writeback_to = end - w;
  dropped_to_ = drop_to;
  written_back_to_ = writeback_to;
  if (ring_.Supports(IORING_OP_SYNC_FILE_RANGE)) {
    (void)co_await ring_.Op([&](io_uring_sqe* sqe) {
      io_uring_prep_sync_file_range(
          sqe, fd_, static_cast<unsigned>(std::min<uint64_t>(writeback_to - drop_to, UINT32_MAX)),
          drop_to, SYNC_FILE_RANGE_WRITE);
    });
  }
  if (drop_to > drop_from && ring_.Supports(IORING_OP_FADVISE)) {
    (void)co_await ring_.Op([&](io_uring_sqe* sqe) {
      io_uring_prep_fadvise(sqe, fd_, drop_from, static_cast<off_t>(drop_to - drop_from),
                            POSIX_FADV_DONTNEED);
    });
  }
}

Task<Status> UringFile::Sync() {
  if (fd_ < 0) co_return ClosedStatus(path_);
  int32_t res;
  do {
    res = co_await ring_.Op(
        [&](io_uring_sqe* sqe) { io_uring_prep_fsync(sqe, fd_, IORING_FSYNC_DATASYNC); });
  } while (res == -EINTR);
  if (res < 0) co_return Status::FromErrno(-res, fmt::format("fdatasync {}", path_));
  co_return Status::Ok();
}

Task<Status> UringFile::Truncate(uint64_t size) {
  if (fd_ < 0) co_return ClosedStatus(path_);
  int32_t res;
  if (ring_.Supports(kOpFtruncate)) {
    do {
      res = co_await ring_.Op(
          [&](io_uring_sqe* sqe) { io_uring_prep_rw(kOpFtruncate, sqe, fd_, nullptr, 0, size); });
    } while (res == -EINTR);
  } else {
    res = ::ftruncate(fd_, static_cast<off_t>(size)) == 0 ? 0 : -errno;
  }
  if (res < 0) co_return Status::FromErrno(-res, fmt::format("truncate {} to {}", path_, size));
  // Appends after a cut start their drop-behind steps from the new end.
  written_back_to_ = std::min(written_back_to_, size);
  dropped_to_ = std::min(dropped_to_, size);
  end_ = size;
  end_known_ = true;
  tail_known_ = false;
  other_writes_++;
  co_return Status::Ok();
}

Task<Status> UringFile::Preallocate(uint64_t offset, uint64_t len) {
  if (fd_ < 0) co_return ClosedStatus(path_);
  if (len == 0) co_return Status::Ok();
  int32_t res;
  do {
    res = co_await ring_.Op([&](io_uring_sqe* sqe) {
      io_uring_prep_fallocate(sqe, fd_, FALLOC_FL_KEEP_SIZE, offset, len);
    });
  } while (res == -EINTR);
  // Reserving space is an optimisation; a file system without fallocate still works.
  if (res == -EOPNOTSUPP) co_return Status::Ok();
  if (res < 0) {
    co_return Status::FromErrno(-res, fmt::format("fallocate {} [{}, +{})", path_, offset, len));
  }
  co_return Status::Ok();
}

Result<uint64_t> UringFile::SizeNow() const {
  if (fd_ < 0) return ClosedStatus(path_);
  struct stat st {};
  if (::fstat(fd_, &st) != 0) return Status::FromErrno(errno, fmt::format("fstat {}", path_));
  return static_cast<uint64_t>(st.st_size);
}

Task<Result<uint64_t>> UringFile::Size() { co_return SizeNow(); }

Task<Status> UringFile::Close() {
  if (fd_ < 0) co_return ClosedStatus(path_);
  const int fd = std::exchange(fd_, -1);
  if (direct_fd_ >= 0) ::close(std::exchange(direct_fd_, -1));
  if (::close(fd) != 0 && errno != EINTR) {
    co_return Status::FromErrno(errno, fmt::format("close {}", path_));
  }
  co_return Status::Ok();
}

Task<Result<std::unique_ptr<File>>> UringFileSystem::Open(const std::string& path,
                                                          OpenOptions opts) {
  const std::string p = path;
  int flags = O_CLOEXEC | (opts.read_only ? O_RDONLY : O_RDWR);
  if (opts.create) flags |= O_CREAT;
  if (opts.create && opts.exclusive) flags |= O_EXCL;
  if (opts.truncate) flags |= O_TRUNC;
  if (opts.direct) flags |= O_DIRECT;
  int32_t res;
  do {
    res = co_await ring_.Op(
        [&](io_uring_sqe* sqe) { io_uring_prep_openat(sqe, AT_FDCWD, p.c_str(), flags, 0644); });
  } while (res == -EINTR || res == -EAGAIN);
  if (res < 0) co_return Status::FromErrno(-res, fmt::format("open {}", p));
  UringFileOptions file_options = options_;
  if (opts.read_only) file_options.direct_append_bytes = 0;
  co_return std::unique_ptr<File>(
      std::make_unique<UringFile>(ring_, res, p, opts.direct, file_options, staging_));
}

Task<Status> UringFileSystem::Rename(const std::string& from, const std::string& to) {
  const std::string a = from, b = to;
  int32_t res;
  if (ring_.Supports(IORING_OP_RENAMEAT)) {
    do {
      res = co_await ring_.Op([&](io_uring_sqe* sqe) {
        io_uring_prep_renameat(sqe, AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), 0);
      });
    } while (res == -EINTR);
  } else {
    res = ::rename(a.c_str(), b.c_str()) == 0 ? 0 : -errno;
  }
  if (res < 0) co_return Status::FromErrno(-res, fmt::format("rename {} to {}", a, b));
  co_return Status::Ok();
}

Task<Status> UringFileSystem::Remove(const std::string& path) {
  const std::string p = path;
  auto unlink = [&](int at_flags) -> Task<int32_t> {
    if (!ring_.Supports(IORING_OP_UNLINKAT)) {
      co_return ::unlinkat(AT_FDCWD, p.c_str(), at_flags) == 0 ? 0 : -errno;
    }
    int32_t r;
    do {
      r = co_await ring_.Op(
          [&](io_uring_sqe* sqe) { io_uring_prep_unlinkat(sqe, AT_FDCWD, p.c_str(), at_flags); });
    } while (r == -EINTR);
    co_return r;
  };
  int32_t res = co_await unlink(0);
  // unlink(2) refuses directories with EISDIR; an empty directory is removed with rmdir.
  if (res == -EISDIR) res = co_await unlink(AT_REMOVEDIR);
  if (res < 0) co_return Status::FromErrno(-res, fmt::format("remove {}", p));
  co_return Status::Ok();
}

Task<Status> UringFileSystem::MakeDir(const std::string& path) {
  const std::string p = path;
  int32_t res;
  if (ring_.Supports(IORING_OP_MKDIRAT)) {
    do {
      res = co_await ring_.Op(
          [&](io_uring_sqe* sqe) { io_uring_prep_mkdirat(sqe, AT_FDCWD, p.c_str(), 0755); });
    } while (res == -EINTR);
  } else {
    res = ::mkdir(p.c_str(), 0755) == 0 ? 0 : -errno;
  }
  if (res < 0) co_return Status::FromErrno(-res, fmt::format("mkdir {}", p));
  co_return Status::Ok();
}

Task<Result<std::vector<DirEntry>>> UringFileSystem::List(const std::string& dir) {
  // io_uring has no getdents opcode; reading a directory that is in use is a cache hit.
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) co_return Status::FromErrno(errno, fmt::format("list {}", dir));
  std::vector<DirEntry> entries;
  errno = 0;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    bool is_dir = e->d_type == DT_DIR;
    if (e->d_type == DT_UNKNOWN) {
      struct stat st {};
      is_dir =
          ::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
    }
    entries.push_back(DirEntry{std::move(name), is_dir});
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) co_return Status::FromErrno(err, fmt::format("list {}", dir));
  std::sort(entries.begin(), entries.end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  co_return entries;
}

Task<Status> UringFileSystem::SyncDir(const std::string& dir) {
  const std::string p = dir;
  int32_t fd;
  do {
    fd = co_await ring_.Op([&](io_uring_sqe* sqe) {
      io_uring_prep_openat(sqe, AT_FDCWD, p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    });
  } while (fd == -EINTR || fd == -EAGAIN);
  if (fd < 0) co_return Status::FromErrno(-fd, fmt::format("open directory {}", p));
  int32_t res;
  do {
    res = co_await ring_.Op([&](io_uring_sqe* sqe) { io_uring_prep_fsync(sqe, fd, 0); });
  } while (res == -EINTR);
  ::close(fd);
  if (res < 0) co_return Status::FromErrno(-res, fmt::format("fsync directory {}", p));
  co_return Status::Ok();
}

Task<Result<bool>> UringFileSystem::Exists(const std::string& path) {
  const std::string p = path;
  int32_t res;
  if (ring_.Supports(IORING_OP_STATX)) {
    struct statx stx {};
    do {
      res = co_await ring_.Op([&](io_uring_sqe* sqe) {
        io_uring_prep_statx(sqe, AT_FDCWD, p.c_str(), AT_STATX_SYNC_AS_STAT, STATX_TYPE, &stx);
      });
    } while (res == -EINTR || res == -EAGAIN);
  } else {
    struct stat st {};
    res = ::stat(p.c_str(), &st) == 0 ? 0 : -errno;
  }
  if (res == -ENOENT || res == -ENOTDIR) co_return false;
  if (res < 0) co_return Status::FromErrno(-res, fmt::format("stat {}", p));
  co_return true;
}

}  // namespace runnel::uring
