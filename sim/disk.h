// SimDisk: one node's simulated disk, the twin of the io_uring file system. It persists across
// the node's stops and crashes; a crash keeps only what the durability contract of io/file.h
// promises, and adversarially little more.
//
// State model (one SimDisk per node, owned by its SimNode, used on the one sim thread):
// - Inodes (files and directories) numbered from 1 (the root directory "/").
// - A file has its current bytes (what ReadAt sees: the "page cache"), its durable bytes (what
//   a crash keeps for sure) and the list of writes and truncates since its last Sync.
//   Sync applies that list to the durable bytes. A crash resolves every unsynced write
//   independently: kept, dropped, or torn (a random proper subset of its 512-byte sectors
//   reaches the disk, so a torn write is torn on a sector boundary; a tear that extends the file
//   may leave the file longer with zeros where sectors were lost). Then the current bytes
//   become the durable ones.
// - A directory has its current entries and its durable entries. Create, MakeDir, Rename and
//   Remove change the current entries and append to the directory's unsynced change list;
//   SyncDir makes that list durable. A crash keeps a random prefix of each directory's list
//   (a rename within a directory is all or nothing; a rename across directories never loses the
//   file: it survives under the old name, the new one, or both). Whatever is not reachable
//   from "/" after a crash is gone.
// - Sync can fail (DiskFaults::sync_error_probability) with kIo: the file's unsynced writes
//   are then lost for good — still readable until the next crash, never made durable by a later
//   Sync (Linux fsync semantics); the error is reported to that one Sync call only.
// - Latent sector errors: a bad sector makes every read that covers it fail with kIo until the
//   sector is written again. Bit rot: a stored bit flips (both current and durable bytes); only a
//   checksum above can notice.
// - Capacity: writes, truncates and preallocations that would push the bytes in use past
//   DiskOptions::capacity_bytes fail with kNoSpace and change nothing.
// - Every operation completes after a latency drawn from the disk's own seeded stream, as an
//   event on the issuing shard. Its effect is applied when it completes, so an operation in
//   flight when the node goes down never happened.
// - Errors use the same kinds as the io_uring implementation (Status::FromErrno).
//
// Fault knobs are all zero by default: a SimDisk is a perfect (but crashable) disk unless a
// test or the FaultSchedule asks for faults.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "io/clock.h"
#include "io/file.h"
#include "io/rng.h"
#include "io/shards.h"

namespace runnel::sim {

class SimWorld;
class SimDisk;

// Probabilities of faults, per operation. All zero by default.
struct DiskFaults {
  double read_error_probability = 0;    // ReadAt fails with kIo (transient)
  double write_error_probability = 0;   // WriteAt fails with kIo; nothing is written
  double sync_error_probability = 0;    // Sync fails with kIo; the file's unsynced writes are lost
  double latent_error_probability = 0;  // per ReadAt: a sector in its range goes bad
  double bit_rot_probability = 0;       // per ReadAt: a bit in its range flips on the medium
  bool any() const {
    return read_error_probability > 0 || write_error_probability > 0 ||
           sync_error_probability > 0 || latent_error_probability > 0 || bit_rot_probability > 0;
  }
};

// How a crash resolves each unsynced write: kept with keep_probability, dropped with
// drop_probability, torn otherwise. A torn write that covers one sector is kept or dropped.
struct CrashModel {
  double keep_probability = 0.35;
  double drop_probability = 0.35;
};

struct DiskOptions {
  uint64_t capacity_bytes = uint64_t{1} << 40;
  Duration read_latency_min = std::chrono::microseconds(5);
  Duration read_latency_max = std::chrono::microseconds(200);
  Duration write_latency_min = std::chrono::microseconds(5);
  Duration write_latency_max = std::chrono::microseconds(200);
  Duration sync_latency_min = std::chrono::microseconds(50);
  Duration sync_latency_max = std::chrono::milliseconds(3);
  Duration meta_latency_min = std::chrono::microseconds(2);  // open, rename, list, ...
  Duration meta_latency_max = std::chrono::microseconds(100);
  uint64_t bytes_per_us = 2000;  // transfer rate added to read/write latency
  DiskFaults faults{};
  CrashModel crash{};
};

// Counters for tests and reports.
struct DiskStats {
  uint64_t reads = 0;
  uint64_t writes = 0;
  uint64_t syncs = 0;
  uint64_t read_errors = 0;
  uint64_t write_errors = 0;
  uint64_t sync_errors = 0;
  uint64_t latent_errors = 0;         // sectors made bad
  uint64_t latent_read_failures = 0;  // reads failed on a bad sector
  uint64_t bit_rots = 0;
  uint64_t no_space = 0;
  uint64_t crashes = 0;
  uint64_t crash_writes_kept = 0;
  uint64_t crash_writes_dropped = 0;
  uint64_t crash_writes_torn = 0;
  uint64_t crash_dir_ops_kept = 0;
  uint64_t crash_dir_ops_lost = 0;
};

// A file opened on a SimDisk. Belongs to the shard that opened it; its operations complete on
// that shard. Invalid (kClosed) after Close and after its node went down.
class SimFile final : public File {
 public:
  SimFile(SimDisk& disk, ShardId shard, uint64_t inode, std::string path, OpenOptions opts,
          uint64_t generation);
  ~SimFile() override;

  Task<Result<size_t>> ReadAt(uint64_t offset, std::span<std::byte> buf) override;
  Task<Status> WriteAt(uint64_t offset, std::span<const std::byte> data) override;
  Task<Status> Sync() override;
  Task<Status> Truncate(uint64_t size) override;
  Task<Status> Preallocate(uint64_t offset, uint64_t len) override;
  Task<Result<uint64_t>> Size() override;
  Task<Status> Close() override;
  const std::string& path() const override { return path_; }

  SimDisk& disk() { return disk_; }
  uint64_t inode() const { return inode_; }

 private:
  Status Usable(std::string_view op) const;
  Status CheckDirect(uint64_t offset, size_t len, const void* buf) const;

  SimDisk& disk_;
  const ShardId shard_;
  const uint64_t inode_;
  const std::string path_;
  const OpenOptions opts_;
  const uint64_t generation_;
  bool closed_ = false;
};

// The FileSystem one shard sees: operations on the node's SimDisk that complete on this shard.
class SimFs final : public FileSystem {
 public:
  SimFs(SimDisk& disk, ShardId shard) : disk_(disk), shard_(shard) {}

  Task<Result<std::unique_ptr<File>>> Open(const std::string& path, OpenOptions opts) override;
  Task<Status> Rename(const std::string& from, const std::string& to) override;
  Task<Status> Remove(const std::string& path) override;
  Task<Status> MakeDir(const std::string& path) override;
  Task<Result<std::vector<DirEntry>>> List(const std::string& dir) override;
  Task<Status> SyncDir(const std::string& dir) override;
  Task<Result<bool>> Exists(const std::string& path) override;

 private:
  SimDisk& disk_;
  const ShardId shard_;
};

class SimDisk {
 public:
  SimDisk(SimWorld& world, uint32_t node, uint64_t seed, DiskOptions options);
  ~SimDisk();
  SimDisk(const SimDisk&) = delete;
  SimDisk& operator=(const SimDisk&) = delete;

  uint32_t node() const { return node_; }
  const DiskOptions& options() const { return options_; }
  void SetFaults(const DiskFaults& faults) { options_.faults = faults; }
  const DiskFaults& faults() const { return options_.faults; }
  void SetCrashModel(const CrashModel& model) { options_.crash = model; }
  void SetCapacity(uint64_t bytes) { options_.capacity_bytes = bytes; }
  const DiskStats& stats() const { return stats_; }
  // Bytes in use: the sum over files in the current namespace or open of max(current size,
  // durable size, preallocated end).
  uint64_t used_bytes() const;

  // --- Synchronous helpers for tests and harnesses (no latency, no faults) ----------------
  // Makes `dir` and its parents, durably (as if each parent had been synced).
  Status MakeDirsNow(const std::string& dir);
  // Current content of a file (what ReadAt would return).
  Result<std::vector<std::byte>> ReadNow(const std::string& path) const;
  // Whether `path` exists in the current namespace.
  bool ExistsNow(const std::string& path) const;
  // Number of unsynced writes/truncates of a file (0 if absent).
  size_t UnsyncedOpsNow(const std::string& path) const;
  // Flips bit `bit` (0..7) of the byte at `offset` in the stored file (current and durable).
  Status InjectBitRot(const std::string& path, uint64_t offset, int bit);
  // Makes the sector holding `offset` bad: reads covering it fail until it is rewritten.
  Status InjectLatentError(const std::string& path, uint64_t offset);

  // --- Lifecycle (called by SimWorld) ----------------------------------------------------
  // The node's process ended: every open SimFile becomes invalid.
  void ProcessExit();
  // Power loss: resolves unsynced writes and directory changes as described above.
  void Crash();

 private:
  friend class SimFile;
  friend class SimFs;

  struct PendingOp {
    bool truncate = false;
    uint64_t offset = 0;  // write offset, or the new size of a truncate
    std::vector<std::byte> data;
  };
  struct DirOp {
    bool link = false;  // link name -> inode, or unlink name
    std::string name;
    uint64_t inode = 0;
    uint64_t group = 0;  // ops of one rename share a group (0: alone)
    bool cross = false;  // half of a rename across directories
  };
  struct Inode {
    uint64_t id = 0;
    bool is_dir = false;
    // Files.
    std::vector<std::byte> data;
    std::vector<std::byte> durable;
    std::vector<PendingOp> pending;
    std::set<uint64_t> bad_sectors;
    uint64_t prealloc_end = 0;
    uint32_t open_handles = 0;
    // Directories.
    std::map<std::string, uint64_t> entries;
    std::map<std::string, uint64_t> durable_entries;
    std::vector<DirOp> dir_pending;
  };
  struct Lookup {
    uint64_t parent = 0;  // 0 when the parent does not exist
    std::string name;
    uint64_t inode = 0;  // 0 when the entry does not exist
  };

  SimWorld& world() { return world_; }
  Duration Latency(Duration lo, Duration hi, uint64_t bytes);
  Lookup Resolve(const std::string& path) const;
  Inode* Find(uint64_t id);
  const Inode* Find(uint64_t id) const;
  Inode& NewInode(bool is_dir);
  uint64_t Allocated(const Inode& inode) const;
  bool Fits(uint64_t old_allocated, uint64_t new_allocated) const;
  void ApplyPending(std::vector<std::byte>& bytes, const PendingOp& op) const;
  void CollectGarbage();
  void MarkReachable(uint64_t dir, bool durable, bool pending, std::set<uint64_t>& out) const;

  // The operations, applied at completion time (after the latency).
  Result<std::unique_ptr<File>> DoOpen(ShardId shard, const std::string& path, OpenOptions opts);
  Status DoRename(const std::string& from, const std::string& to);
  Status DoRemove(const std::string& path);
  Status DoMakeDir(const std::string& path);
  Result<std::vector<DirEntry>> DoList(const std::string& dir) const;
  Status DoSyncDir(const std::string& dir);
  Result<size_t> DoRead(uint64_t inode, uint64_t offset, std::span<std::byte> buf,
                        const std::string& path);
  Status DoWrite(uint64_t inode, uint64_t offset, std::span<const std::byte> data,
                 const std::string& path);
  Status DoSync(uint64_t inode, const std::string& path);
  Status DoTruncate(uint64_t inode, uint64_t size, const std::string& path);
  Status DoPreallocate(uint64_t inode, uint64_t offset, uint64_t len, const std::string& path);
  void CrashFile(Inode& inode);
  void CrashDirs();

  SimWorld& world_;
  const uint32_t node_;
  DiskOptions options_;
  Rng rng_;
  DiskStats stats_;
  uint64_t generation_ = 1;  // bumped when the node goes down: older handles are invalid
  uint64_t next_inode_ = 1;
  uint64_t next_group_ = 1;
  std::map<uint64_t, Inode> inodes_;
};

}  // namespace runnel::sim
