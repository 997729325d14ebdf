// Direct appends (io/uring/uring_file.h): writes at a file's end of at least D bytes go to the
// disk with O_DIRECT, and nothing about the file's contents or size changes. Checked: every byte
// read back (through the File and through a separate descriptor), the size exact after every
// write, appends of odd sizes that start and end off the 4 KiB grid, appends in flight together
// (as Log::Append issues them), a file reopened with a partial last block, a cut, and writes not
// at the end. The bytes written with O_DIRECT are not in the page cache (mincore on a mapping),
// which is how the test knows the direct path ran: without the option they all are.
#include <gtest/gtest.h>
#include <sys/stat.h>
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

constexpr uint64_t kDirectBytes = 64 << 10;  // direct_append_bytes

std::byte PatternAt(uint64_t pos, int generation) {
  return static_cast<std::byte>((pos * 131 + pos / 4096 + static_cast<uint64_t>(generation) * 7) &
                                0xff);
}

Bytes Pattern(uint64_t from, size_t len, int generation) {
  Bytes b(len);
  for (size_t i = 0; i < len; i++) b[i] = PatternAt(from + i, generation);
  return b;
}

uint64_t SizeOnDisk(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : UINT64_MAX;
}

// The file's bytes through a descriptor of its own (not the File under test).
Bytes ReadWhole(const std::string& path) {
  Bytes out(SizeOnDisk(path));
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return {};
  const size_t n = std::fread(out.data(), 1, out.size(), f);
  std::fclose(f);
  out.resize(n);
  return out;
}

// Where `got` first differs from the pattern of `generation` over [0, size), or "" if it doesn't.
std::string FirstDifference(const Bytes& got, uint64_t size, int generation) {
  if (got.size() != size) return fmt::format("{} bytes, expected {}", got.size(), size);
  for (uint64_t i = 0; i < size; i++) {
    if (got[i] != PatternAt(i, generation)) return fmt::format("byte {} differs", i);
  }
  return "";
}

Task<std::string> ReadBack(File& f, uint64_t size, int generation) {
  Bytes got(size + 4096);
  Result<size_t> n = co_await f.ReadAt(0, got);
  if (!n.ok()) co_return n.status().ToString();
  got.resize(*n);
  co_return FirstDifference(got, size, generation);
}

class DirectAppend : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(OnTmpfs("/var/tmp")) << "/var/tmp is tmpfs: the test needs a disk file system";
    UseDir("/var/tmp");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // The test's file goes under `parent`.
  void UseDir(const std::string& parent) {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
    dir_ = std::filesystem::path(parent) / ("runnel-direct-append-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    path_ = dir_ + "/log";
  }

  // Runs `body` on the file at path_, opened with `opts` on a one-shard runtime whose files use
  // direct appends of >= `direct_bytes`, and closes the file afterwards.
  void RunOnFile(uint64_t direct_bytes, OpenOptions opts, std::function<Task<void>(File&)> body) {
    UringOptions options;
    options.files.direct_append_bytes = direct_bytes;
    auto rt = UringRuntime::Create(options);
    ASSERT_TRUE(rt.ok()) << rt.status().ToString();
    Status s = (*rt)->Run([&](Io& io) -> Task<void> {
      Result<std::unique_ptr<File>> f = co_await io.fs().Open(path_, opts);
      EXPECT_TRUE(f.ok()) << f.status().ToString();
      if (!f.ok()) co_return;
      co_await body(**f);
      Status closed = co_await (*f)->Close();
      EXPECT_TRUE(closed.ok()) << closed.ToString();
    });
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  std::string dir_;
  std::string path_;
};

// Sizes that start and end everywhere on and off the 4 KiB grid, around the threshold and over
// the 2 MiB staging buffer.
const std::vector<size_t> kSizes = {100'003,       4096,    70'000,  (2 << 20) + 12'345,
                                    65'536,        1'000,   500'000, 4095,
                                    (5 << 20) + 1, 131'072, 77,      262'144};

TEST_F(DirectAppend, AppendsOfEverySizeReadBackExactly) {
  uint64_t size = 0;
  RunOnFile(kDirectBytes, OpenOptions{.create = true}, [&](File& file) -> Task<void> {
    for (size_t len : kSizes) {
      Status w = co_await file.WriteAt(size, Pattern(size, len, 0));
      EXPECT_TRUE(w.ok()) << w.ToString();
      size += len;
      Result<uint64_t> got = co_await file.Size();
      EXPECT_TRUE(got.ok() && *got == size) << "after appending " << len;
      EXPECT_EQ(SizeOnDisk(path_), size) << "after appending " << len;
    }
    EXPECT_EQ(co_await ReadBack(file, size, 0), "");
    EXPECT_TRUE((co_await file.Sync()).ok());
  });
  EXPECT_EQ(FirstDifference(ReadWhole(path_), size, 0), "");
}

// tmpfs has no device: it takes the O_DIRECT open and writes them into its pages (statx reports
// no direct-I/O alignment). The same appends, in flight together, land exactly there too.
TEST_F(DirectAppend, OnTmpfsTheSameAppendsLandExactly) {
  ASSERT_TRUE(OnTmpfs("/dev/shm")) << "/dev/shm is not tmpfs here";
  UseDir("/dev/shm");
  uint64_t size = 0;
  RunOnFile(kDirectBytes, OpenOptions{.create = true}, [&](File& file) -> Task<void> {
    std::vector<Bytes> data;
    std::vector<Task<Status>> writes;
    for (size_t len : kSizes) {
      data.push_back(Pattern(size, len, 3));
      writes.push_back(file.WriteAt(size, data.back()));
      size += len;
    }
    for (const Status& s : co_await WhenAll(std::move(writes))) {
      EXPECT_TRUE(s.ok()) << s.ToString();
    }
    EXPECT_EQ(co_await ReadBack(file, size, 3), "");
  });
  EXPECT_EQ(FirstDifference(ReadWhole(path_), size, 3), "");
}

TEST_F(DirectAppend, DirectBytesSkipThePageCacheWithoutTheOptionTheyDoNot) {
  constexpr uint64_t kMiB = 1 << 20;
  constexpr uint64_t kAppend = kMiB + 1000;  // every append after the first starts off the grid
  constexpr uint64_t kTotal = 8 * kAppend;
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  // Resident pages of the file right after the appends, before anything reads it.
  auto write_and_count = [&](uint64_t direct_bytes) {
    std::filesystem::remove(path_);
    size_t resident = SIZE_MAX;
    RunOnFile(direct_bytes, OpenOptions{.create = true}, [&](File& file) -> Task<void> {
      for (uint64_t at = 0; at < kTotal; at += kAppend) {
        EXPECT_TRUE((co_await file.WriteAt(at, Pattern(at, kAppend, 0))).ok());
      }
      resident = ResidentPages(path_, 0, kTotal);
      EXPECT_EQ(co_await ReadBack(file, kTotal, 0), "");
    });
    return resident;
  };
  // Direct: only the last partial page of each append went through the cache, and the next
  // append's O_DIRECT write dropped it again, so one page at most.
  EXPECT_LE(write_and_count(kDirectBytes), 1u);
  EXPECT_EQ(write_and_count(0), (kTotal + page - 1) / page);
}

// Appends issued before the previous ones finished, in order of their offsets, as Log::Append
// does; mixed sizes, so some go through the cache while a direct one is in flight.
TEST_F(DirectAppend, AppendsInFlightTogetherLandWhereTheyWereAimed) {
  uint64_t size = 0;
  RunOnFile(kDirectBytes, OpenOptions{.create = true}, [&](File& file) -> Task<void> {
    for (int round = 0; round < 4; round++) {
      std::vector<Bytes> data;
      std::vector<Task<Status>> writes;
      for (size_t i = 0; i < kSizes.size(); i++) {
        const size_t len = kSizes[(i + round) % kSizes.size()];
        data.push_back(Pattern(size, len, 0));
        writes.push_back(file.WriteAt(size, data.back()));
        size += len;
      }
      for (const Status& s : co_await WhenAll(std::move(writes))) {
        EXPECT_TRUE(s.ok()) << s.ToString();
      }
      EXPECT_EQ(SizeOnDisk(path_), size);
    }
    EXPECT_EQ(co_await ReadBack(file, size, 0), "");
  });
  EXPECT_EQ(FirstDifference(ReadWhole(path_), size, 0), "");
}

// A file found with a partial last block (this process never saw it written), cut back into the
// middle of a block, and rewritten in the middle: later direct appends keep every byte.
TEST_F(DirectAppend, ReopenedCutAndRewrittenFilesKeepTheirBytes) {
  constexpr uint64_t kFirst = 300'001;
  {
    FILE* f = std::fopen(path_.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    const Bytes b = Pattern(0, kFirst, 1);
    ASSERT_EQ(std::fwrite(b.data(), 1, b.size(), f), b.size());
    std::fclose(f);
  }
  uint64_t size = kFirst;
  RunOnFile(kDirectBytes, OpenOptions{}, [&](File& file) -> Task<void> {
    EXPECT_TRUE((co_await file.WriteAt(size, Pattern(size, 200'000, 1))).ok());
    size += 200'000;
    // Cut into the middle of a block, then go on appending.
    size = 411'111;
    EXPECT_TRUE((co_await file.Truncate(size)).ok());
    EXPECT_TRUE((co_await file.WriteAt(size, Pattern(size, 150'000, 1))).ok());
    size += 150'000;
    // Rewrite bytes in the middle (through the cache: not at the end) with the same pattern's
    // other generation, then put them back, then append.
    EXPECT_TRUE((co_await file.WriteAt(100'000, Pattern(100'000, 90'000, 2))).ok());
    Bytes mid(90'000);
    EXPECT_TRUE((co_await file.ReadAt(100'000, mid)).ok());
    EXPECT_EQ(mid, Pattern(100'000, 90'000, 2));
    EXPECT_TRUE((co_await file.WriteAt(100'000, Pattern(100'000, 90'000, 1))).ok());
    EXPECT_TRUE((co_await file.WriteAt(size, Pattern(size, 123'457, 1))).ok());
    size += 123'457;
    EXPECT_EQ(co_await ReadBack(file, size, 1), "");
    EXPECT_TRUE((co_await file.Sync()).ok());
  });
  EXPECT_EQ(FirstDifference(ReadWhole(path_), size, 1), "");
}

}  // namespace
}  // namespace runnel::uring
