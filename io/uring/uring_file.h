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
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "io/file.h"
#include "io/uring/ring.h"

namespace runnel::uring {

struct UringFileOptions {
  // Drop-behind step W in bytes (see above); 0 = off. Not for O_DIRECT files (no page cache).
  uint64_t drop_behind_bytes = 0;
};

class UringFile final : public File {
 public:
  // Takes ownership of `fd`.
  UringFile(Ring& ring, int fd, std::string path, bool direct, UringFileOptions options = {});
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

  Ring& ring_;
  int fd_;
  std::string path_;
  bool direct_;
  uint64_t drop_behind_bytes_;
  // Drop-behind: writeback was started for [dropped_to_, written_back_to_) at the last step;
  // everything before dropped_to_ was advised out of the cache.
  uint64_t dropped_to_ = 0;
  uint64_t written_back_to_ = 0;
};

class UringFileSystem final : public FileSystem {
 public:
  explicit UringFileSystem(Ring& ring, UringFileOptions options = {})
      : ring_(ring), options_(options) {}

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
};

}  // namespace runnel::uring
