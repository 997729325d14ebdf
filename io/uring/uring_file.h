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
#pragma once

#include <memory>
#include <string>

#include "io/file.h"
#include "io/uring/ring.h"

namespace runnel::uring {

class UringFile final : public File {
 public:
  // Takes ownership of `fd`.
  UringFile(Ring& ring, int fd, std::string path, bool direct);
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

  Ring& ring_;
  int fd_;
  std::string path_;
  bool direct_;
};

class UringFileSystem final : public FileSystem {
 public:
  explicit UringFileSystem(Ring& ring) : ring_(ring) {}

  Task<Result<std::unique_ptr<File>>> Open(const std::string& path, OpenOptions opts) override;
  Task<Status> Rename(const std::string& from, const std::string& to) override;
  Task<Status> Remove(const std::string& path) override;
  Task<Status> MakeDir(const std::string& path) override;
  Task<Result<std::vector<DirEntry>>> List(const std::string& dir) override;
  Task<Status> SyncDir(const std::string& dir) override;
  Task<Result<bool>> Exists(const std::string& path) override;

 private:
  Ring& ring_;
};

}  // namespace runnel::uring
