// Counting this process's open file descriptors, for the leak checks of the io/uring tests.
#pragma once

#include <dirent.h>

#include <cstddef>

namespace runnel::testing {

// Entries of /proc/self/fd, not counting the descriptor used to read it.
inline size_t CountOpenFds() {
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return 0;
  size_t n = 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') n++;
  }
  ::closedir(d);
  return n - 1;
}

}  // namespace runnel::testing
