// FileSystem / File: the disk as engine code sees it. Production: io_uring on a real directory
// tree. Simulation: SimDisk, which models what a crash keeps.
//
// Durability contract (both implementations, and what engine code may assume — no more):
// - After WriteAt resolves ok, the bytes are readable by ReadAt but NOT durable.
// - After Sync resolves ok, every write that resolved before Sync was called is durable.
// - If Sync fails, the unsynced writes may be lost even though they were readable; the error is
//   reported once (Linux fsync semantics). Treat the file's unsynced tail as unknown.
// - Create, Rename and Remove change a directory; they are durable only after SyncDir on the
//   parent directory resolves ok.
// - A crash keeps, drops or tears (at 512-byte sector granularity) each unsynced write.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "io/status.h"
#include "io/task.h"

namespace runnel {

struct OpenOptions {
  bool create = false;     // create if missing
  bool exclusive = false;  // with create: fail with kAlreadyExists if present
  bool truncate = false;   // truncate to zero on open
  bool read_only = false;
  // O_DIRECT: offsets, lengths and buffers must be aligned to kDirectIoAlignment. Ignored by
  // the simulator apart from the alignment checks.
  bool direct = false;
};

inline constexpr size_t kDirectIoAlignment = 4096;
inline constexpr size_t kSectorBytes = 512;

class File {
 public:
  virtual ~File() = default;

  // Reads up to buf.size() bytes at `offset`; fewer only at end of file (0 = at/after EOF).
  virtual Task<Result<size_t>> ReadAt(uint64_t offset, std::span<std::byte> buf) = 0;
  // Writes all of `data` at `offset` (extending the file if needed), or fails.
  virtual Task<Status> WriteAt(uint64_t offset, std::span<const std::byte> data) = 0;
  // fdatasync: makes written data (and the size) durable.
  virtual Task<Status> Sync() = 0;
  virtual Task<Status> Truncate(uint64_t size) = 0;
  // Reserves space for [offset, offset+len) without changing reads (fallocate KEEP_SIZE).
  virtual Task<Status> Preallocate(uint64_t offset, uint64_t len) = 0;
  virtual Task<Result<uint64_t>> Size() = 0;
  // Closes the file; further operations fail with kClosed. The destructor closes too.
  virtual Task<Status> Close() = 0;

  virtual const std::string& path() const = 0;
};

struct DirEntry {
  std::string name;  // the entry's name within the directory (not a path)
  bool is_dir = false;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  virtual Task<Result<std::unique_ptr<File>>> Open(const std::string& path, OpenOptions opts) = 0;
  virtual Task<Status> Rename(const std::string& from, const std::string& to) = 0;
  virtual Task<Status> Remove(const std::string& path) = 0;   // a file or an empty directory
  virtual Task<Status> MakeDir(const std::string& path) = 0;  // kAlreadyExists if present
  // Entries sorted by name, without "." and "..".
  virtual Task<Result<std::vector<DirEntry>>> List(const std::string& dir) = 0;
  virtual Task<Status> SyncDir(const std::string& dir) = 0;
  virtual Task<Result<bool>> Exists(const std::string& path) = 0;
};

// Reads exactly buf.size() bytes or fails (kCorruption on a short read: the caller expected
// those bytes to exist).
Task<Status> ReadExactly(File& file, uint64_t offset, std::span<std::byte> buf);

// Makes `dir` and its missing parents (not synced).
Task<Status> MakeDirs(FileSystem& fs, const std::string& dir);

// Writes `data` to `path` atomically and durably: temp file, write, sync, rename, sync_dir.
Task<Status> WriteFileAtomic(FileSystem& fs, const std::string& path,
                             std::span<const std::byte> data);

// Reads a whole (small) file.
Task<Result<std::vector<std::byte>>> ReadFile(FileSystem& fs, const std::string& path,
                                              uint64_t size_max);

// Path helpers (POSIX, '/'-separated).
std::string JoinPath(const std::string& a, const std::string& b);
std::string ParentDir(const std::string& path);
std::string BaseName(const std::string& path);

}  // namespace runnel
