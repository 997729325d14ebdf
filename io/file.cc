#include "io/file.h"

#include <fmt/format.h>

namespace runnel {

Task<Status> ReadExactly(File& file, uint64_t offset, std::span<std::byte> buf) {
  size_t done = 0;
  while (done < buf.size()) {
    Result<size_t> n = co_await file.ReadAt(offset + done, buf.subspan(done));
    if (!n.ok()) co_return std::move(n).status();
    if (*n == 0) {
      co_return Status::Corruption(fmt::format("{}: short read at {} ({} of {} bytes)", file.path(),
                                               offset, done, buf.size()));
    }
    done += *n;
  }
  co_return Status::Ok();
}

Task<Status> MakeDirs(FileSystem& fs, const std::string& dir) {
  if (dir.empty() || dir == "/" || dir == ".") co_return Status::Ok();
  Result<bool> exists = co_await fs.Exists(dir);
  if (!exists.ok()) co_return std::move(exists).status();
  if (*exists) co_return Status::Ok();
  RUNNEL_CO_TRY(co_await MakeDirs(fs, ParentDir(dir)));
  Status s = co_await fs.MakeDir(dir);
  if (s.Is(ErrorKind::kAlreadyExists)) co_return Status::Ok();
  co_return s;
}

Task<Status> WriteFileAtomic(FileSystem& fs, const std::string& path,
                             std::span<const std::byte> data) {
  const std::string tmp = path + ".tmp";
  RUNNEL_CO_ASSIGN_OR_RETURN(std::unique_ptr<File> f,
                             co_await fs.Open(tmp, OpenOptions{.create = true, .truncate = true}));
  RUNNEL_CO_TRY(co_await f->WriteAt(0, data));
  RUNNEL_CO_TRY(co_await f->Sync());
  RUNNEL_CO_TRY(co_await f->Close());
  RUNNEL_CO_TRY(co_await fs.Rename(tmp, path));
  co_return co_await fs.SyncDir(ParentDir(path));
}

Task<Result<std::vector<std::byte>>> ReadFile(FileSystem& fs, const std::string& path,
                                              uint64_t size_max) {
  RUNNEL_CO_ASSIGN_OR_RETURN(std::unique_ptr<File> f,
                             co_await fs.Open(path, OpenOptions{.read_only = true}));
  RUNNEL_CO_ASSIGN_OR_RETURN(uint64_t size, co_await f->Size());
  if (size > size_max) {
    co_return Status::Limit(
        fmt::format("{}: {} bytes exceeds the {} allowed", path, size, size_max));
  }
  std::vector<std::byte> data(size);
  RUNNEL_CO_TRY(co_await ReadExactly(*f, 0, data));
  RUNNEL_CO_TRY(co_await f->Close());
  co_return data;
}

std::string JoinPath(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (!b.empty() && b.front() == '/') return b;
  if (a.back() == '/') return a + b;
  return a + "/" + b;
}

std::string ParentDir(const std::string& path) {
  size_t pos = path.find_last_of('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}

std::string BaseName(const std::string& path) {
  size_t pos = path.find_last_of('/');
  return pos == std::string::npos ? path : path.substr(pos + 1);
}

}  // namespace runnel
