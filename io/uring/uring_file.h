// UringFileSystem / UringFile: the production FileSystem on a real directory tree. Reads, writes,
// fdatasync, fallocate, openat, renameat, unlinkat, mkdirat and statx go through the shard's
// io_uring; ftruncate too where the kernel has IORING_OP_FTRUNCATE (6.9+), else the syscall.
// Directory listing uses opendir/readdir (no io_uring opcode exists for it).
//
// Owner and thread: one UringFileSystem per shard; a UringFile belongs to the shard that opened
// it and is used only from that shard's thread.
//
// Durability: exactly the contract of io/file.h. WriteAt resolves when the kernel accepted the
// bytes (page cache, or the device for O_DIRECT); Sync is fdatasync; SyncDir opens the directory
// and fsyncs it. Nothing here adds durability beyond what those calls give.
//
// Drop-behind (UringFileOptions::drop_behind_bytes = W > 0): a file written by appends keeps
// only its newest bytes in the page cache. Each time the appends moved W past the last step,
// writeback of [previous step, end - W) starts (sync_file_range(SYNC_FILE_RANGE_WRITE), no
// wait, so no writeback error is consumed: the next fdatasync still reports it) and the range
// whose writeback the previous step started is dropped (POSIX_FADV_DONTNEED: clean pages leave
// the cache; pages still dirty or under writeback stay). So the cache holds about the last 2-3 W
// of each appended file; reads of older bytes go to the disk. Both calls are advice: their
// results are ignored, and contents, sizes and durability are as without them.
//
// Direct appends (UringFileOptions::direct_append_bytes = D > 0): a write of at least D bytes
// at the file's end skips the page cache. Its data is copied into an aligned staging buffer
// behind the bytes of the file's last partial 4 KiB block (kept in memory from the previous
// append, else read back), the whole blocks go to the disk with O_DIRECT through a second
// descriptor of the same file, and the new partial block, if any, is written through the page
// cache. So the file's size is always exactly its contents (no padding), and ReadAt, SendFile and
// a crash see what they would without it: the kernel keeps the page cache coherent (an O_DIRECT
// write first writes back and drops the cached pages it overlaps), and fdatasync covers both
// descriptors' writes (one inode). Bytes written this way are not in the page cache: reading them
// goes to the disk. Direct-size appends to one file queue in arrival order; the one at the front
// writes itself and the appends queued contiguously behind it with one copy pass and one O_DIRECT
// write, then hands the front on. Writes that are smaller, not at the end, or on a file system
// that refuses O_DIRECT go through the page cache as before. Drop-behind applies to those only.
#pragma once

#include <coroutine>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "io/file.h"
#include "io/uring/ring.h"

namespace runnel::uring {

struct UringFileOptions {
  // Drop-behind step W in bytes (see above); 0 = off. Not for O_DIRECT files (no page cache).
  uint64_t drop_behind_bytes = 0;
  // Writes at the end of a file of at least this many bytes go to the disk with O_DIRECT (see
  // above); 0 = off. Not for files opened read-only or with OpenOptions::direct.
  uint64_t direct_append_bytes = 0;
};

// Aligned staging buffers for direct appends, shared by a shard's files (a UringFileSystem and
// the files it opened; one thread). Buffers of kStagingBytes; a few spares are kept.
class StagingPool {
 public:
  static constexpr size_t kStagingBytes = size_t{2} << 20;
  static constexpr size_t kSparesMax = 4;

  struct FreeAligned {
    void operator()(std::byte* p) const;
  };
  using Buffer = std::unique_ptr<std::byte[], FreeAligned>;

  // A buffer of kStagingBytes aligned to kDirectIoAlignment; null if memory ran out.
  Buffer Take();
  void Give(Buffer b);

 private:
  std::vector<Buffer> spares_;
};

class UringFile final : public File {
 public:
  // Takes ownership of `fd`.
  UringFile(Ring& ring, int fd, std::string path, bool direct, UringFileOptions options = {},
            std::shared_ptr<StagingPool> staging = nullptr);
  ~UringFile() override;
  UringFile(const UringFile&) = delete;
  UringFile& operator=(const UringFile&) = delete;

  Task<Result<size_t>> ReadAt(uint64_t offset, std::span<std::byte> buf) override;
  Task<Status> WriteAt(uint64_t offset, std::span<const std::byte> data) override;
  Task<Status> Sync() override;
  Task<Status> Truncate(uint64_t size) override;
  Task<Status> Preallocate(uint64_t offset, uint64_t len) override;
  Task<Result<uint64_t>> Size() override;
  Task<Status> Close() override;
  const std::string& path() const override { return path_; }

  // The descriptor (for SendFile's splice), or -1 once closed.
  int fd() const { return fd_; }
  // Size by fstat: never blocks on the device (the inode is in memory while the file is open).
  Result<uint64_t> SizeNow() const;

 private:
  Status CheckDirect(uint64_t offset, const void* data, size_t len) const;
  // Drop-behind after a write that ended at `end` (see above).
  Task<void> DropBehind(uint64_t end);
  // A write through the page cache, with the size bookkeeping of direct appends.
  Task<Status> WriteBuffered(uint64_t offset, std::span<const std::byte> data);
  // The write itself: the page cache descriptor, short writes retried.
  Task<Status> WriteThroughCache(uint64_t offset, std::span<const std::byte> data);
  // A direct append of `parts` one after the other at end_ (see above), by the front of the
  // queue, with no write through the page cache in flight and the last partial block known.
  Task<Status> AppendDirect(std::span<const std::span<const std::byte>> parts);
  // Run by the append at the front of appends_: writes it (directly with the appends queued
  // right behind it, or alone through the page cache), completes them, wakes the next.
  Task<void> LeadAppends();
  // Opens the O_DIRECT descriptor (sets direct_refused_ if it cannot) and reads the last
  // partial block back unless it is known.
  Task<Status> PrepareDirect();

  Ring& ring_;
  int fd_;
  std::string path_;
  bool direct_;
  uint64_t drop_behind_bytes_;
  // Drop-behind: writeback was started for [dropped_to_, written_back_to_) at the last step;
  // everything before dropped_to_ was advised out of the cache.
  uint64_t dropped_to_ = 0;
  uint64_t written_back_to_ = 0;
  // Direct appends: the threshold (0 = off), the O_DIRECT descriptor (-1 until the first direct
  // append opens it), the file's size when known, and its last partial block's bytes
  // [end_ rounded down to 4 KiB, end_) when tail_known_. Writes through the page cache are
  // counted (start and end) so a direct append knows whether one overlapped it.
  uint64_t direct_append_bytes_;
  std::shared_ptr<StagingPool> staging_;
  // Direct-size appends in arrival order; the front one is being written.
  struct AppendWaiter {
    uint64_t offset;
    std::span<const std::byte> data;
    Status status;
    bool done = false;
    std::coroutine_handle<> h;
  };
  // Suspends an append until it was written or reached the front of the queue.
  struct ParkedAppend {
    AppendWaiter& w;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) noexcept { w.h = h; }
    void await_resume() const noexcept {}
  };
  std::deque<AppendWaiter*> appends_;
  uint32_t buffered_in_flight_ = 0;
  uint64_t other_writes_ = 0;
  int direct_fd_ = -1;
  bool direct_refused_ = false;
  bool end_known_ = false;
  uint64_t end_ = 0;
  bool tail_known_ = false;
  std::vector<std::byte> tail_;
};

class UringFileSystem final : public FileSystem {
 public:
  explicit UringFileSystem(Ring& ring, UringFileOptions options = {})
      : ring_(ring), options_(options), staging_(std::make_shared<StagingPool>()) {}

  Task<Result<std::unique_ptr<File>>> Open(const std::string& path, OpenOptions opts) override;
  Task<Status> Rename(const std::string& from, const std::string& to) override;
  Task<Status> Remove(const std::string& path) override;
  Task<Status> MakeDir(const std::string& path) override;
  Task<Result<std::vector<DirEntry>>> List(const std::string& dir) override;
  Task<Status> SyncDir(const std::string& dir) override;
  Task<Result<bool>> Exists(const std::string& path) override;

 private:
  Ring& ring_;
  UringFileOptions options_;
  std::shared_ptr<StagingPool> staging_;
};

}  // namespace runnel::uring
