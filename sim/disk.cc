#include "sim/disk.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "sim/world.h"

namespace runnel::sim {
namespace {

// Splits a path into components; "." and empty components are skipped, ".." goes up.
std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    std::string part = path.substr(i, j - i);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(std::move(part));
    }
    i = j + 1;
  }
  return parts;
}

std::string Normalized(const std::string& path) {
  std::string out;
  for (const std::string& p : SplitPath(path)) out += "/" + p;
  return out.empty() ? "/" : out;
}

Status Errno(int err, std::string_view op, const std::string& path) {
  return Status::FromErrno(err, fmt::format("{} {}", op, path));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// SimFile

SimFile::SimFile(SimDisk& disk, ShardId shard, uint64_t inode, std::string path, OpenOptions opts,
                 uint64_t generation)
    : disk_(disk),
      shard_(shard),
      inode_(inode),
      path_(std::move(path)),
      opts_(opts),
      generation_(generation) {}

SimFile::~SimFile() {
  if (!closed_ && generation_ == disk_.generation_) {
    closed_ = true;
    SimDisk::Inode* f = disk_.Find(inode_);
    if (f != nullptr && f->open_handles > 0 && --f->open_handles == 0) disk_.CollectGarbage();
  }
}

Status SimFile::Usable(std::string_view op) const {
  if (closed_) return Status::Closed(fmt::format("{} {}: file is closed", op, path_));
  if (generation_ != disk_.generation_) {
    return Status::Closed(fmt::format("{} {}: the process that opened it is gone", op, path_));
  }
  return Status::Ok();
}

Status SimFile::CheckDirect(uint64_t offset, size_t len, const void* buf) const {
  if (!opts_.direct) return Status::Ok();
  if (offset % kDirectIoAlignment != 0 || len % kDirectIoAlignment != 0 ||
      reinterpret_cast<uintptr_t>(buf) % kDirectIoAlignment != 0) {
    return Status::FromErrno(
        EINVAL, fmt::format("O_DIRECT {}: offset {} length {} or buffer not {}-aligned", path_,
                            offset, len, kDirectIoAlignment));
  }
  return Status::Ok();
}

Task<Result<size_t>> SimFile::ReadAt(uint64_t offset, std::span<std::byte> buf) {
  if (Status s = Usable("read"); !s.ok()) co_return s;
  if (Status s = CheckDirect(offset, buf.size(), buf.data()); !s.ok()) co_return s;
  const DiskOptions& o = disk_.options_;
  co_await disk_.world_.Delay(disk_.node_, shard_,
                              disk_.Latency(o.read_latency_min, o.read_latency_max, buf.size()),
                              EventKind::kDisk);
  if (Status s = Usable("read"); !s.ok()) co_return s;
  co_return disk_.DoRead(inode_, offset, buf, path_);
}

Task<Status> SimFile::WriteAt(uint64_t offset, std::span<const std::byte> data) {
  RUNNEL_CO_TRY(Usable("write"));
  RUNNEL_CO_TRY(CheckDirect(offset, data.size(), data.data()));
  if (opts_.read_only) co_return Errno(EBADF, "write", path_);
  const DiskOptions& o = disk_.options_;
  co_await disk_.world_.Delay(disk_.node_, shard_,
                              disk_.Latency(o.write_latency_min, o.write_latency_max, data.size()),
                              EventKind::kDisk);
  RUNNEL_CO_TRY(Usable("write"));
  co_return disk_.DoWrite(inode_, offset, data, path_);
}

Task<Status> SimFile::Sync() {
  RUNNEL_CO_TRY(Usable("fsync"));
  const DiskOptions& o = disk_.options_;
  co_await disk_.world_.Delay(disk_.node_, shard_,
                              disk_.Latency(o.sync_latency_min, o.sync_latency_max, 0),
                              EventKind::kDisk);
  RUNNEL_CO_TRY(Usable("fsync"));
  co_return disk_.DoSync(inode_, path_);
}

Task<Status> SimFile::Truncate(uint64_t size) {
  RUNNEL_CO_TRY(Usable("truncate"));
  if (opts_.read_only) co_return Errno(EINVAL, "truncate", path_);
  const DiskOptions& o = disk_.options_;
  co_await disk_.world_.Delay(disk_.node_, shard_,
                              disk_.Latency(o.meta_latency_min, o.meta_latency_max, 0),
                              EventKind::kDisk);
  RUNNEL_CO_TRY(Usable("truncate"));
  co_return disk_.DoTruncate(inode_, size, path_);
}

Task<Status> SimFile::Preallocate(uint64_t offset, uint64_t len) {
  RUNNEL_CO_TRY(Usable("fallocate"));
  if (opts_.read_only) co_return Errno(EBADF, "fallocate", path_);
  const DiskOptions& o = disk_.options_;
  co_await disk_.world_.Delay(disk_.node_, shard_,
                              disk_.Latency(o.meta_latency_min, o.meta_latency_max, 0),
                              EventKind::kDisk);
  RUNNEL_CO_TRY(Usable("fallocate"));
  co_return disk_.DoPreallocate(inode_, offset, len, path_);
}

Task<Result<uint64_t>> SimFile::Size() {
  if (Status s = Usable("stat"); !s.ok()) co_return s;
  const DiskOptions& o = disk_.options_;
  co_await disk_.world_.Delay(disk_.node_, shard_,
                              disk_.Latency(o.meta_latency_min, o.meta_latency_max, 0),
                              EventKind::kDisk);
  if (Status s = Usable("stat"); !s.ok()) co_return s;
  const SimDisk::Inode* f = disk_.Find(inode_);
  RUNNEL_ASSERT(f != nullptr, "open file {} lost its inode", path_);
  co_return static_cast<uint64_t>(f->data.size());
}

Task<Status> SimFile::Close() {
  if (closed_) co_return Status::Ok();
  if (generation_ != disk_.generation_) {
    closed_ = true;
    co_return Status::Ok();
  }
  closed_ = true;
  SimDisk::Inode* f = disk_.Find(inode_);
  if (f != nullptr && f->open_handles > 0 && --f->open_handles == 0) disk_.CollectGarbage();
  co_return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// SimFs: each operation waits its latency on the calling shard, then applies.

Task<Result<std::unique_ptr<File>>> SimFs::Open(const std::string& path, OpenOptions opts) {
  const DiskOptions& o = disk_.options_;
  co_await disk_.world_.Delay(disk_.node_, shard_,
                              disk_.Latency(o.meta_latency_min, o.meta_latency_max, 0),
                              EventKind::kDisk);
  co_return disk_.DoOpen(shard_, path, opts);
}

Task<Status> SimFs::Rename(const std::string& from, const std::string& to) {
  const DiskOptions& o = disk_.options_;
  co_await disk_.world_.Delay(disk_.node_, shard_,
                              disk_.Latency(o.meta_latency_min, o.meta_latency_max, 0),
                              EventKind::kDisk);
  co_return disk_.DoRename(from, to);
}

Task<Status> SimFs::Remove(const std::string& path) {
  const DiskOptions& o = disk_.options_;
  co_await disk_.world_.Delay(disk_.node_, shard_,
                              disk_.Latency(o.meta_latency_min, o.meta_latency_max, 0),
                              EventKind::kDisk);
  co_return disk_.DoRemove(path);
}

Task<Status> SimFs::MakeDir(const std::string& path) {
  const DiskOptions& o = disk_.options_;
  co_await disk_.world_.Delay(disk_.node_, shard_,
                              disk_.Latency(o.meta_latency_min, o.meta_latency_max, 0),
                              EventKind::kDisk);
  co_return disk_.DoMakeDir(path);
}

Task<Result<std::vector<DirEntry>>> SimFs::List(const std::string& dir) {
  const DiskOptions& o = disk_.options_;
  co_await disk_.world_.Delay(disk_.node_, shard_,
                              disk_.Latency(o.meta_latency_min, o.meta_latency_max, 0),
                              EventKind::kDisk);
  co_return disk_.DoList(dir);
}

Task<Status> SimFs::SyncDir(const std::string& dir) {
  const DiskOptions& o = disk_.options_;
  co_await disk_.world_.Delay(disk_.node_, shard_,
                              disk_.Latency(o.sync_latency_min, o.sync_latency_max, 0),
                              EventKind::kDisk);
  co_return disk_.DoSyncDir(dir);
}

Task<Result<bool>> SimFs::Exists(const std::string& path) {
  const DiskOptions& o = disk_.options_;
  co_await disk_.world_.Delay(disk_.node_, shard_,
                              disk_.Latency(o.meta_latency_min, o.meta_latency_max, 0),
                              EventKind::kDisk);
  co_return disk_.Resolve(path).inode != 0;
}

// ---------------------------------------------------------------------------------------------
// SimDisk

SimDisk::SimDisk(SimWorld& world, uint32_t node, uint64_t seed, DiskOptions options)
    : world_(world), node_(node), options_(options), rng_(seed) {
  Inode& root = NewInode(true);
  RUNNEL_ASSERT(root.id == 1, "the root directory must be inode 1");
}

SimDisk::~SimDisk() = default;

Duration SimDisk::Latency(Duration lo, Duration hi, uint64_t bytes) {
  int64_t ns = rng_.Range(lo.count(), std::max(lo.count(), hi.count()));
  if (options_.bytes_per_us > 0) ns += static_cast<int64_t>(bytes * 1000 / options_.bytes_per_us);
  return Duration(ns);
}

SimDisk::Lookup SimDisk::Resolve(const std::string& path) const {
  std::vector<std::string> parts = SplitPath(path);
  if (parts.empty()) return Lookup{0, "", 1};
  uint64_t dir = 1;
  for (size_t i = 0; i + 1 < parts.size(); i++) {
    const Inode* d = Find(dir);
    auto it = d->entries.find(parts[i]);
    if (it == d->entries.end() || !Find(it->second)->is_dir) return Lookup{0, parts.back(), 0};
    dir = it->second;
  }
  const Inode* d = Find(dir);
  auto it = d->entries.find(parts.back());
  return Lookup{dir, parts.back(), it == d->entries.end() ? 0 : it->second};
}

SimDisk::Inode* SimDisk::Find(uint64_t id) {
  auto it = inodes_.find(id);
  return it == inodes_.end() ? nullptr : &it->second;
}

const SimDisk::Inode* SimDisk::Find(uint64_t id) const {
  auto it = inodes_.find(id);
  return it == inodes_.end() ? nullptr : &it->second;
}

SimDisk::Inode& SimDisk::NewInode(bool is_dir) {
  const uint64_t id = next_inode_++;
  Inode& inode = inodes_[id];
  inode.id = id;
  inode.is_dir = is_dir;
  return inode;
}

uint64_t SimDisk::Allocated(const Inode& inode) const {
  if (inode.is_dir) return 0;
  return std::max({static_cast<uint64_t>(inode.data.size()),
                   static_cast<uint64_t>(inode.durable.size()), inode.prealloc_end});
}

uint64_t SimDisk::used_bytes() const {
  // Space is what the current namespace and open files hold. Inodes kept only because a crash
  // could bring back an unsynced name are not counted (the file system freed their blocks).
  std::set<uint64_t> live;
  MarkReachable(1, false, false, live);
  uint64_t used = 0;
  for (const auto& [id, inode] : inodes_) {
    if (live.count(id) > 0 || inode.open_handles > 0) used += Allocated(inode);
  }
  return used;
}

bool SimDisk::Fits(uint64_t old_allocated, uint64_t new_allocated) const {
  if (new_allocated <= old_allocated) return true;
  return used_bytes() + (new_allocated - old_allocated) <= options_.capacity_bytes;
}

void SimDisk::ApplyPending(std::vector<std::byte>& bytes, const PendingOp& op) const {
  if (op.truncate) {
    bytes.resize(op.offset);
    return;
  }
  const uint64_t end = op.offset + op.data.size();
  if (bytes.size() < end) bytes.resize(end);
  std::memcpy(bytes.data() + op.offset, op.data.data(), op.data.size());
}

void SimDisk::MarkReachable(uint64_t dir, bool durable, bool pending,
                            std::set<uint64_t>& out) const {
  if (!out.insert(dir).second) return;
  const Inode* d = Find(dir);
  if (d == nullptr || !d->is_dir) return;
  for (const auto& [name, child] : durable ? d->durable_entries : d->entries) {
    MarkReachable(child, durable, pending, out);
  }
  if (!pending) return;
  // Unsynced links can still become durable at a crash: keep their targets.
  for (const DirOp& op : d->dir_pending) {
    if (op.link) MarkReachable(op.inode, durable, pending, out);
  }
}

void SimDisk::CollectGarbage() {
  std::set<uint64_t> live;
  std::set<uint64_t> durable_live;
  MarkReachable(1, false, true, live);
  MarkReachable(1, true, true, durable_live);
  for (auto it = inodes_.begin(); it != inodes_.end();) {
    const Inode& inode = it->second;
    const bool keep =
        live.count(inode.id) > 0 || durable_live.count(inode.id) > 0 || inode.open_handles > 0;
    it = keep ? std::next(it) : inodes_.erase(it);
  }
}

Result<std::unique_ptr<File>> SimDisk::DoOpen(ShardId shard, const std::string& path,
                                              OpenOptions opts) {
  Lookup l = Resolve(path);
  if (l.inode == 0 && l.parent == 0) return Errno(ENOENT, "open", path);
  Inode* f = nullptr;
  if (l.inode == 0) {
    if (!opts.create) return Errno(ENOENT, "open", path);
    f = &NewInode(false);
    Inode* parent = Find(l.parent);
    parent->entries[l.name] = f->id;
    parent->dir_pending.push_back(DirOp{true, l.name, f->id, 0, false});
  } else {
    f = Find(l.inode);
    if (f->is_dir) return Errno(EISDIR, "open", path);
    if (opts.create && opts.exclusive) return Errno(EEXIST, "open", path);
    if (opts.truncate && !opts.read_only && (!f->data.empty() || !f->pending.empty())) {
      f->data.clear();
      f->pending.push_back(PendingOp{true, 0, {}});
    }
  }
  f->open_handles++;
  return std::unique_ptr<File>(
      std::make_unique<SimFile>(*this, shard, f->id, path, opts, generation_));
}

Status SimDisk::DoRename(const std::string& from, const std::string& to) {
  Lookup src = Resolve(from);
  if (src.inode == 0) return Errno(ENOENT, "rename", from);
  if (src.inode == 1) return Errno(EBUSY, "rename", from);
  Lookup dst = Resolve(to);
  if (dst.parent == 0) return Errno(ENOENT, "rename to", to);
  if (src.parent == dst.parent && src.name == dst.name) return Status::Ok();
  Inode* s = Find(src.inode);
  if (s->is_dir) {
    const std::string nf = Normalized(from);
    const std::string nt = Normalized(to);
    if (nt.size() > nf.size() && nt.compare(0, nf.size(), nf) == 0 && nt[nf.size()] == '/') {
      return Errno(EINVAL, "rename into itself", to);
    }
  }
  if (dst.inode != 0) {
    const Inode* d = Find(dst.inode);
    if (d->is_dir && !s->is_dir) return Errno(EISDIR, "rename to", to);
    if (!d->is_dir && s->is_dir) return Errno(ENOTDIR, "rename to", to);
    if (d->is_dir && !d->entries.empty()) return Errno(ENOTEMPTY, "rename to", to);
  }
  const uint64_t group = next_group_++;
  const bool cross = src.parent != dst.parent;
  Inode* sp = Find(src.parent);
  Inode* dp = Find(dst.parent);
  sp->entries.erase(src.name);
  sp->dir_pending.push_back(DirOp{false, src.name, src.inode, group, cross});
  dp->entries[dst.name] = src.inode;
  dp->dir_pending.push_back(DirOp{true, dst.name, src.inode, group, cross});
  if (dst.inode != 0) CollectGarbage();
  return Status::Ok();
}

Status SimDisk::DoRemove(const std::string& path) {
  Lookup l = Resolve(path);
  if (l.inode == 0) return Errno(ENOENT, "remove", path);
  if (l.inode == 1) return Errno(EBUSY, "remove", path);
  const Inode* target = Find(l.inode);
  if (target->is_dir && !target->entries.empty()) return Errno(ENOTEMPTY, "remove", path);
  Inode* parent = Find(l.parent);
  parent->entries.erase(l.name);
  parent->dir_pending.push_back(DirOp{false, l.name, l.inode, 0, false});
  CollectGarbage();
  return Status::Ok();
}

Status SimDisk::DoMakeDir(const std::string& path) {
  Lookup l = Resolve(path);
  if (l.inode != 0) return Errno(EEXIST, "mkdir", path);
  if (l.parent == 0) return Errno(ENOENT, "mkdir", path);
  Inode& d = NewInode(true);
  Inode* parent = Find(l.parent);
  parent->entries[l.name] = d.id;
  parent->dir_pending.push_back(DirOp{true, l.name, d.id, 0, false});
  return Status::Ok();
}

Result<std::vector<DirEntry>> SimDisk::DoList(const std::string& dir) const {
  Lookup l = Resolve(dir);
  if (l.inode == 0) return Errno(ENOENT, "list", dir);
  const Inode* d = Find(l.inode);
  if (!d->is_dir) return Errno(ENOTDIR, "list", dir);
  std::vector<DirEntry> out;
  out.reserve(d->entries.size());
  for (const auto& [name, child] : d->entries) out.push_back(DirEntry{name, Find(child)->is_dir});
  return out;
}

Status SimDisk::DoSyncDir(const std::string& dir) {
  Lookup l = Resolve(dir);
  if (l.inode == 0) return Errno(ENOENT, "fsync dir", dir);
  Inode* d = Find(l.inode);
  if (!d->is_dir) return Errno(ENOTDIR, "fsync dir", dir);
  for (const DirOp& op : d->dir_pending) {
    if (op.link) {
      d->durable_entries[op.name] = op.inode;
    } else {
      auto it = d->durable_entries.find(op.name);
      if (it != d->durable_entries.end() && it->second == op.inode) d->durable_entries.erase(it);
    }
  }
  d->dir_pending.clear();
  CollectGarbage();
  return Status::Ok();
}

Result<size_t> SimDisk::DoRead(uint64_t inode, uint64_t offset, std::span<std::byte> buf,
                               const std::string& path) {
  stats_.reads++;
  Inode* f = Find(inode);
  RUNNEL_ASSERT(f != nullptr, "open file {} lost its inode", path);
  const DiskFaults& faults = options_.faults;
  if (rng_.Chance(faults.read_error_probability)) {
    stats_.read_errors++;
    return Errno(EIO, "read", path);
  }
  if (buf.empty() || offset >= f->data.size()) return size_t{0};
  const size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), f->data.size() - offset));
  const uint64_t first = offset / kSectorBytes;
  const uint64_t last = (offset + n - 1) / kSectorBytes;
  if (rng_.Chance(faults.latent_error_probability)) {
    f->bad_sectors.insert(first + rng_.Uniform(last - first + 1));
    stats_.latent_errors++;
  }
  if (rng_.Chance(faults.bit_rot_probability)) {
    const uint64_t at = offset + rng_.Uniform(n);
    const std::byte mask{static_cast<uint8_t>(1u << rng_.Uniform(8))};
    f->data[at] ^= mask;
    if (at < f->durable.size()) f->durable[at] ^= mask;
    stats_.bit_rots++;
  }
  auto bad = f->bad_sectors.lower_bound(first);
  if (bad != f->bad_sectors.end() && *bad <= last) {
    stats_.latent_read_failures++;
    return Status::FromErrno(
        EIO, fmt::format("read {}: unreadable sector at byte {}", path, *bad * kSectorBytes));
  }
  std::memcpy(buf.data(), f->data.data() + offset, n);
  return n;
}

Status SimDisk::DoWrite(uint64_t inode, uint64_t offset, std::span<const std::byte> data,
                        const std::string& path) {
  stats_.writes++;
  Inode* f = Find(inode);
  RUNNEL_ASSERT(f != nullptr, "open file {} lost its inode", path);
  if (rng_.Chance(options_.faults.write_error_probability)) {
    stats_.write_errors++;
    return Errno(EIO, "write", path);
  }
  if (data.empty()) return Status::Ok();
  const uint64_t end = offset + data.size();
  const uint64_t old_allocated = Allocated(*f);
  if (!Fits(old_allocated, std::max(old_allocated, end))) {
    stats_.no_space++;
    return Errno(ENOSPC, "write", path);
  }
  if (f->data.size() < end) f->data.resize(end);
  std::memcpy(f->data.data() + offset, data.data(), data.size());
  f->pending.push_back(PendingOp{false, offset, std::vector<std::byte>(data.begin(), data.end())});
  // The drive remaps a bad sector when it is written.
  const uint64_t first = offset / kSectorBytes;
  const uint64_t last = (end - 1) / kSectorBytes;
  f->bad_sectors.erase(f->bad_sectors.lower_bound(first), f->bad_sectors.upper_bound(last));
  return Status::Ok();
}

Status SimDisk::DoSync(uint64_t inode, const std::string& path) {
  stats_.syncs++;
  Inode* f = Find(inode);
  RUNNEL_ASSERT(f != nullptr, "open file {} lost its inode", path);
  if (rng_.Chance(options_.faults.sync_error_probability)) {
    // Linux marks the dirty pages clean after a failed writeback: the writes stay readable
    // until evicted but no later fsync will write them, and the error is reported once.
    stats_.sync_errors++;
    f->pending.clear();
    return Errno(EIO, "fsync", path);
  }
  for (const PendingOp& op : f->pending) ApplyPending(f->durable, op);
  f->pending.clear();
  return Status::Ok();
}

Status SimDisk::DoTruncate(uint64_t inode, uint64_t size, const std::string& path) {
  Inode* f = Find(inode);
  RUNNEL_ASSERT(f != nullptr, "open file {} lost its inode", path);
  const uint64_t old_allocated = Allocated(*f);
  if (!Fits(old_allocated, std::max(old_allocated, size))) {
    stats_.no_space++;
    return Errno(ENOSPC, "truncate", path);
  }
  f->data.resize(size);
  f->pending.push_back(PendingOp{true, size, {}});
  const uint64_t first_gone = (size + kSectorBytes - 1) / kSectorBytes;
  f->bad_sectors.erase(f->bad_sectors.lower_bound(first_gone), f->bad_sectors.end());
  return Status::Ok();
}

Status SimDisk::DoPreallocate(uint64_t inode, uint64_t offset, uint64_t len,
                              const std::string& path) {
  Inode* f = Find(inode);
  RUNNEL_ASSERT(f != nullptr, "open file {} lost its inode", path);
  const uint64_t old_allocated = Allocated(*f);
  const uint64_t end = offset + len;
  if (!Fits(old_allocated, std::max(old_allocated, end))) {
    stats_.no_space++;
    return Errno(ENOSPC, "fallocate", path);
  }
  f->prealloc_end = std::max(f->prealloc_end, end);
  return Status::Ok();
}

void SimDisk::ProcessExit() {
  generation_++;
  for (auto& [id, inode] : inodes_) inode.open_handles = 0;
  CollectGarbage();
}

void SimDisk::CrashFile(Inode& f) {
  std::vector<std::byte> image = f.durable;
  const CrashModel& m = options_.crash;
  for (const PendingOp& op : f.pending) {
    if (op.truncate) {
      // Size changes are metadata: they happen or not.
      if (rng_.Chance(0.5)) image.resize(op.offset);
      continue;
    }
    const double r = rng_.Real();
    if (r < m.keep_probability) {
      ApplyPending(image, op);
      stats_.crash_writes_kept++;
      continue;
    }
    if (r < m.keep_probability + m.drop_probability) {
      stats_.crash_writes_dropped++;
      continue;
    }
    // Torn: split at absolute sector boundaries; each piece reaches the disk or not.
    const uint64_t end = op.offset + op.data.size();
    std::vector<std::pair<uint64_t, uint64_t>> pieces;  // [begin, end)
    for (uint64_t at = op.offset; at < end;) {
      const uint64_t next = std::min(end, (at / kSectorBytes + 1) * kSectorBytes);
      pieces.emplace_back(at, next);
      at = next;
    }
    if (pieces.size() < 2) {
      // One sector is atomic: a tear of it is a keep or a drop.
      if (rng_.Chance(0.5)) {
        ApplyPending(image, op);
        stats_.crash_writes_kept++;
      } else {
        stats_.crash_writes_dropped++;
      }
      continue;
    }
    std::vector<bool> keep(pieces.size());
    size_t kept = 0;
    for (size_t i = 0; i < pieces.size(); i++) {
      keep[i] = rng_.Chance(0.5);
      kept += keep[i] ? 1 : 0;
    }
    if (kept == 0 || kept == pieces.size()) {
      const size_t flip = rng_.Uniform(pieces.size());
      keep[flip] = !keep[flip];
    }
    for (size_t i = 0; i < pieces.size(); i++) {
      if (!keep[i]) continue;
      const auto [b, e] = pieces[i];
      if (image.size() < e) image.resize(e);
      std::memcpy(image.data() + b, op.data.data() + (b - op.offset), e - b);
    }
    // The size may have reached the disk before the data: lost sectors then read as zeros.
    if (image.size() < end && rng_.Chance(0.5)) image.resize(end);
    stats_.crash_writes_torn++;
  }
  f.durable = std::move(image);
  f.data = f.durable;
  f.pending.clear();
}

void SimDisk::CrashDirs() {
  struct CrossHalf {
    uint64_t from_dir = 0;
    std::string from_name;
    uint64_t inode = 0;
    bool unlink_kept = false;
    bool link_kept = false;
  };
  std::map<uint64_t, CrossHalf> cross;  // by rename group
  for (auto& [id, d] : inodes_) {
    if (!d.is_dir) continue;
    const size_t n = d.dir_pending.size();
    size_t cut = rng_.Uniform(n + 1);
    // A rename within one directory is one journal entry: never split it.
    while (cut > 0 && cut < n && d.dir_pending[cut - 1].group != 0 &&
           !d.dir_pending[cut - 1].cross &&
           d.dir_pending[cut].group == d.dir_pending[cut - 1].group) {
      cut++;
    }
    for (size_t i = 0; i < n; i++) {
      const DirOp& op = d.dir_pending[i];
      const bool kept = i < cut;
      if (op.cross) {
        CrossHalf& c = cross[op.group];
        if (op.link) {
          c.link_kept = kept;
        } else {
          c.from_dir = id;
          c.from_name = op.name;
          c.inode = op.inode;
          c.unlink_kept = kept;
        }
      }
      if (!kept) {
        stats_.crash_dir_ops_lost++;
        continue;
      }
      stats_.crash_dir_ops_kept++;
      if (op.link) {
        d.durable_entries[op.name] = op.inode;
      } else {
        auto it = d.durable_entries.find(op.name);
        if (it != d.durable_entries.end() && it->second == op.inode) d.durable_entries.erase(it);
      }
    }
    d.dir_pending.clear();
  }
  // A rename across directories never loses the file: if only its unlink survived, the old
  // name comes back.
  for (const auto& [group, c] : cross) {
    if (c.unlink_kept && !c.link_kept) {
      Inode* from = Find(c.from_dir);
      if (from != nullptr) from->durable_entries.emplace(c.from_name, c.inode);
    }
  }
  for (auto& [id, d] : inodes_) {
    if (d.is_dir) d.entries = d.durable_entries;
  }
}

void SimDisk::Crash() {
  stats_.crashes++;
  generation_++;
  CrashDirs();
  for (auto& [id, inode] : inodes_) {
    inode.open_handles = 0;
    if (!inode.is_dir) CrashFile(inode);
  }
  CollectGarbage();
}

// ---------------------------------------------------------------------------------------------
// Synchronous helpers

Status SimDisk::MakeDirsNow(const std::string& dir) {
  uint64_t cur = 1;
  for (const std::string& part : SplitPath(dir)) {
    Inode* d = Find(cur);
    auto it = d->entries.find(part);
    if (it != d->entries.end()) {
      if (!Find(it->second)->is_dir) return Errno(ENOTDIR, "mkdir", dir);
      cur = it->second;
      continue;
    }
    const uint64_t child = NewInode(true).id;
    d = Find(cur);  // NewInode may have moved nothing (std::map), but stay explicit
    d->entries[part] = child;
    d->durable_entries[part] = child;
    cur = child;
  }
  return Status::Ok();
}

Result<std::vector<std::byte>> SimDisk::ReadNow(const std::string& path) const {
  Lookup l = Resolve(path);
  if (l.inode == 0) return Errno(ENOENT, "read", path);
  const Inode* f = Find(l.inode);
  if (f->is_dir) return Errno(EISDIR, "read", path);
  return f->data;
}

bool SimDisk::ExistsNow(const std::string& path) const { return Resolve(path).inode != 0; }

size_t SimDisk::UnsyncedOpsNow(const std::string& path) const {
  Lookup l = Resolve(path);
  if (l.inode == 0) return 0;
  return Find(l.inode)->pending.size();
}

Status SimDisk::InjectBitRot(const std::string& path, uint64_t offset, int bit) {
  Lookup l = Resolve(path);
  if (l.inode == 0) return Errno(ENOENT, "rot", path);
  Inode* f = Find(l.inode);
  if (f->is_dir || offset >= f->data.size()) return Errno(EINVAL, "rot", path);
  const std::byte mask{static_cast<uint8_t>(1u << (bit & 7))};
  f->data[offset] ^= mask;
  if (offset < f->durable.size()) f->durable[offset] ^= mask;
  stats_.bit_rots++;
  return Status::Ok();
}

Status SimDisk::InjectLatentError(const std::string& path, uint64_t offset) {
  Lookup l = Resolve(path);
  if (l.inode == 0) return Errno(ENOENT, "latent", path);
  Inode* f = Find(l.inode);
  if (f->is_dir) return Errno(EISDIR, "latent", path);
  f->bad_sectors.insert(offset / kSectorBytes);
  stats_.latent_errors++;
  return Status::Ok();
}

}  // namespace runnel::sim
