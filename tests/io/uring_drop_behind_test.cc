// Drop-behind (io/uring/uring_file.h): a file written by appends keeps only its newest bytes in
// the page cache, and nothing about its contents changes. Page residency is read with mincore on
// a mapping of the file; the file lives on a disk file system (/var/tmp), since tmpfs pages can
// never leave the cache (the test says so and fails if /var/tmp is tmpfs).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "io/uring/runtime.h"
#include "tests/io/page_cache.h"

namespace runnel::uring {
namespace {

using testing::OnTmpfs;
using testing::ResidentPages;

using Bytes = std::vector<std::byte>;

constexpr uint64_t kStep = 1 << 20;         // drop_behind_bytes
constexpr size_t kAppendBytes = 256 << 10;  // each WriteAt
constexpr uint64_t kPhaseBytes = 4 * kStep;

std::byte PatternAt(uint64_t pos, int generation) {
  return static_cast<std::byte>((pos * 131 + pos / 4096 + static_cast<uint64_t>(generation)) &
                                0xff);
}

// Appends [from, to) of the pattern in kAppendBytes writes.
Task<Status> Append(File& f, uint64_t from, uint64_t to, int generation) {
  Bytes chunk(kAppendBytes);
  for (uint64_t at = from; at < to; at += kAppendBytes) {
    for (size_t i = 0; i < chunk.size(); i++) chunk[i] = PatternAt(at + i, generation);
    RUNNEL_CO_TRY(co_await f.WriteAt(at, chunk));
  }
  co_return Status::Ok();
}

Task<Status> CheckContents(File& f, uint64_t size, int generation) {
  Bytes got(size);
  RUNNEL_CO_ASSIGN_OR_RETURN(size_t n, co_await f.ReadAt(0, got));
  if (n != size) co_return Status::Corruption(fmt::format("read {} of {} bytes", n, size));
  for (uint64_t i = 0; i < size; i++) {
    if (got[i] != PatternAt(i, generation)) {
      co_return Status::Corruption(fmt::format("byte {} differs", i));
    }
  }
  co_return Status::Ok();
}

struct Residency {
  size_t synced_then_stepped_over = 0;  // pages of [2, 3) steps: clean, then advised away
  size_t newest = 0;                    // pages of the last step: never advised
};

// Writes 4 steps, syncs, writes 4 more (each append may start writeback and drop older bytes),
// checks every byte, then cuts the file to nothing and writes it again with other contents.
Residency WriteAndLook(const std::string& parent, uint64_t drop_behind_bytes) {
  const std::string dir =
      std::filesystem::path(parent) / ("runnel-drop-behind-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/log";
  UringOptions options;
  options.files.drop_behind_bytes = drop_behind_bytes;
  auto rt = UringRuntime::Create(options);
  EXPECT_TRUE(rt.ok()) << rt.status().ToString();
  Residency out;
  if (!rt.ok()) return out;
  Status s = (*rt)->Run([&](Io& io) -> Task<void> {
    Result<std::unique_ptr<File>> f = co_await io.fs().Open(path, OpenOptions{.create = true});
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    if (!f.ok()) co_return;
    File& file = **f;
    EXPECT_TRUE((co_await Append(file, 0, kPhaseBytes, 0)).ok());
    EXPECT_TRUE((co_await file.Sync()).ok());
    EXPECT_TRUE((co_await Append(file, kPhaseBytes, 2 * kPhaseBytes, 0)).ok());
    out.synced_then_stepped_over = ResidentPages(path, 2 * kStep, 3 * kStep);
    out.newest = ResidentPages(path, 2 * kPhaseBytes - kStep, 2 * kPhaseBytes);
    Status contents = co_await CheckContents(file, 2 * kPhaseBytes, 0);
    EXPECT_TRUE(contents.ok()) << contents.ToString();
    // After a cut the steps start again from the new end.
    EXPECT_TRUE((co_await file.Truncate(0)).ok());
    EXPECT_TRUE((co_await Append(file, 0, 2 * kPhaseBytes, 1)).ok());
    contents = co_await CheckContents(file, 2 * kPhaseBytes, 1);
    EXPECT_TRUE(contents.ok()) << contents.ToString();
    EXPECT_TRUE((co_await file.Close()).ok());
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  std::filesystem::remove_all(dir);
  return out;
}

TEST(DropBehind, OldBytesLeaveTheCacheContentsStay) {
  const std::string parent = "/var/tmp";
  ASSERT_FALSE(OnTmpfs(parent)) << parent << " is tmpfs: its pages never leave the page cache";
  const size_t step_pages = kStep / static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const Residency on = WriteAndLook(parent, kStep);
  EXPECT_EQ(on.synced_then_stepped_over, 0u);
  EXPECT_EQ(on.newest, step_pages);
  // Without it the kernel keeps everything (this machine is not short of memory for 8 MiB).
  const Residency off = WriteAndLook(parent, 0);
  EXPECT_EQ(off.synced_then_stepped_over, step_pages);
  EXPECT_EQ(off.newest, step_pages);
}

}  // namespace
}  // namespace runnel::uring
