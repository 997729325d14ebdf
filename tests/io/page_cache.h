// Page-cache helpers for the io/uring file tests: which pages of a file are cached, and whether
// a directory is on tmpfs (whose pages never leave the cache).
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace runnel::testing {

// Resident pages of [from, to) of the file at `path` (mincore on a mapping); SIZE_MAX if the
// file cannot be mapped.
inline size_t ResidentPages(const std::string& path, uint64_t from, uint64_t to) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return SIZE_MAX;
  const size_t len = static_cast<size_t>(to - from);
  void* map = ::mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(from));
  ::close(fd);
  if (map == MAP_FAILED) return SIZE_MAX;
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> vec((len + page - 1) / page);
  size_t resident = SIZE_MAX;
  if (::mincore(map, len, vec.data()) == 0) {
    resident = 0;
    for (unsigned char v : vec) resident += v & 1;
  }
  ::munmap(map, len);
  return resident;
}

inline bool OnTmpfs(const std::string& dir) {
  struct statfs st {};
  return ::statfs(dir.c_str(), &st) == 0 && st.f_type == 0x01021994;  // TMPFS_MAGIC
}

}  // namespace runnel::testing
