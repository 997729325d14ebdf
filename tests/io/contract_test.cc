// The io contract: what every io implementation (io/uring, sim/) must do, written only against
// the interfaces in io/*.h and run once per registered harness (tests/io/harness.h). Assertions
// are about order and results, never about elapsed wall time: the simulator's time is virtual.
// (A lower bound such as "a sleep does not end early" holds in both worlds.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/io.h"
#include "tests/io/harness.h"

namespace runnel {
namespace {

using testing::Harness;
using Bytes = std::vector<std::byte>;

// gtest's ASSERT_* return from the function, which a coroutine cannot do: these co_return.
#define CO_ASSERT_TRUE(cond)                    \
  do {                                          \
    if (!(cond)) {                              \
      ADD_FAILURE() << "expected true: " #cond; \
      co_return;                                \
    }                                           \
  } while (0)

#define CO_ASSERT_OK(expr)                                            \
  do {                                                                \
    ::runnel::Status co_assert_status_ = (expr);                      \
    if (!co_assert_status_.ok()) {                                    \
      ADD_FAILURE() << #expr << ": " << co_assert_status_.ToString(); \
      co_return;                                                      \
    }                                                                 \
  } while (0)

#define CO_ASSIGN_OK(lhs, expr) \
  CO_ASSIGN_OK_IMPL(RUNNEL_CONCAT(co_assign_result_, __LINE__), lhs, expr)
#define CO_ASSIGN_OK_IMPL(tmp, lhs, expr)                      \
  auto tmp = (expr);                                           \
  if (!tmp.ok()) {                                             \
    ADD_FAILURE() << #expr << ": " << tmp.status().ToString(); \
    co_return;                                                 \
  }                                                            \
  lhs = std::move(tmp).value()

Bytes ToBytes(std::string_view s) {
  Bytes b(s.size());
  std::memcpy(b.data(), s.data(), s.size());
  return b;
}

std::string ToString(std::span<const std::byte> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

Bytes RandomBytes(Rng& rng, size_t n) {
  Bytes b(n);
  rng.Fill(b);
  return b;
}

bool AllZero(std::span<const std::byte> b) {
  return std::all_of(b.begin(), b.end(), [](std::byte x) { return x == std::byte{0}; });
}

// A heap buffer aligned for O_DIRECT.
struct AlignedBuffer {
  explicit AlignedBuffer(size_t n)
      : data(static_cast<std::byte*>(std::aligned_alloc(kDirectIoAlignment, n))), size(n) {}
  ~AlignedBuffer() { std::free(data); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  std::span<std::byte> span() { return {data, size}; }
  std::byte* data;
  size_t size;
};

class IoContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { harness_ = testing::MakeHarness(GetParam()); }
  void Run(uint32_t shards, std::function<Task<void>(Io&)> body) {
    harness_->Run(shards, std::move(body));
  }
  std::unique_ptr<Harness> harness_;
};

// --- Files -------------------------------------------------------------------------------------

TEST_P(IoContract, FileReadWriteShortReadsAndExtension) {
  const std::string dir = harness_->TempDir();
  bool finished = false;
  Run(1, [&](Io& io) -> Task<void> {
    const std::string path = JoinPath(dir, "f");
    CO_ASSIGN_OK(std::unique_ptr<File> f, co_await io.fs().Open(path, OpenOptions{.create = true}));
    EXPECT_EQ(f->path(), path);
    CO_ASSERT_OK(co_await f->WriteAt(0, ToBytes("hello world")));
    CO_ASSIGN_OK(uint64_t size, co_await f->Size());
    EXPECT_EQ(size, 11u);

    Bytes buf(100);
    CO_ASSIGN_OK(size_t n, co_await f->ReadAt(0, std::span(buf).first(11)));
    EXPECT_EQ(n, 11u);
    EXPECT_EQ(ToString(std::span(buf).first(11)), "hello world");
    // Short read at end of file; zero at and past it.
    CO_ASSIGN_OK(n, co_await f->ReadAt(6, buf));
    EXPECT_EQ(n, 5u);
    EXPECT_EQ(ToString(std::span(buf).first(5)), "world");
    CO_ASSIGN_OK(n, co_await f->ReadAt(11, buf));
    EXPECT_EQ(n, 0u);
    CO_ASSIGN_OK(n, co_await f->ReadAt(1000, buf));
    EXPECT_EQ(n, 0u);

    // Overwrite in place, then write past the end: the file grows and the gap reads as zeros.
    CO_ASSERT_OK(co_await f->WriteAt(0, ToBytes("J")));
    CO_ASSERT_OK(co_await f->WriteAt(20, ToBytes("xyz")));
    CO_ASSIGN_OK(size, co_await f->Size());
    EXPECT_EQ(size, 23u);
    CO_ASSIGN_OK(n, co_await f->ReadAt(0, buf));
    EXPECT_EQ(n, 23u);
    EXPECT_EQ(ToString(std::span(buf).first(11)), "Jello world");
    EXPECT_TRUE(AllZero(std::span(buf).subspan(11, 9)));
    EXPECT_EQ(ToString(std::span(buf).subspan(20, 3)), "xyz");

    CO_ASSERT_OK(co_await f->Sync());
    CO_ASSERT_OK(co_await f->Close());
    // A closed file refuses further work.
    Result<size_t> after = co_await f->ReadAt(0, buf);
    EXPECT_TRUE(after.status().Is(ErrorKind::kClosed)) << after.status().ToString();
    Status write_after = co_await f->WriteAt(0, ToBytes("x"));
    EXPECT_TRUE(write_after.Is(ErrorKind::kClosed)) << write_after.ToString();

    // Reopened read-only: the bytes are there and writes fail.
    CO_ASSIGN_OK(std::unique_ptr<File> ro,
                 co_await io.fs().Open(path, OpenOptions{.read_only = true}));
    CO_ASSIGN_OK(n, co_await ro->ReadAt(0, buf));
    EXPECT_EQ(n, 23u);
    EXPECT_EQ(ToString(std::span(buf).first(5)), "Jello");
    EXPECT_FALSE((co_await ro->WriteAt(0, ToBytes("nope"))).ok());
    CO_ASSERT_OK(co_await ro->Close());
    finished = true;
  });
  EXPECT_TRUE(finished);
}

TEST_P(IoContract, FileTruncateShrinksAndGrows) {
  const std::string dir = harness_->TempDir();
  bool finished = false;
  Run(1, [&](Io& io) -> Task<void> {
    CO_ASSIGN_OK(std::unique_ptr<File> f,
                 co_await io.fs().Open(JoinPath(dir, "t"), OpenOptions{.create = true}));
    const Bytes data = RandomBytes(io.rng(), 100);
    CO_ASSERT_OK(co_await f->WriteAt(0, data));
    CO_ASSERT_OK(co_await f->Truncate(40));
    CO_ASSIGN_OK(uint64_t size, co_await f->Size());
    EXPECT_EQ(size, 40u);
    Bytes buf(200);
    CO_ASSIGN_OK(size_t n, co_await f->ReadAt(0, buf));
    EXPECT_EQ(n, 40u);
    EXPECT_TRUE(std::equal(data.begin(), data.begin() + 40, buf.begin()));

    CO_ASSERT_OK(co_await f->Truncate(90));
    CO_ASSIGN_OK(size, co_await f->Size());
    EXPECT_EQ(size, 90u);
    CO_ASSIGN_OK(n, co_await f->ReadAt(0, buf));
    EXPECT_EQ(n, 90u);
    EXPECT_TRUE(std::equal(data.begin(), data.begin() + 40, buf.begin()));
    EXPECT_TRUE(AllZero(std::span(buf).subspan(40, 50)));  // grown bytes are zeros, not old data

    CO_ASSERT_OK(co_await f->Truncate(0));
    CO_ASSIGN_OK(size, co_await f->Size());
    EXPECT_EQ(size, 0u);
    CO_ASSIGN_OK(n, co_await f->ReadAt(0, buf));
    EXPECT_EQ(n, 0u);
    CO_ASSERT_OK(co_await f->Close());
    finished = true;
  });
  EXPECT_TRUE(finished);
}

TEST_P(IoContract, FilePreallocateDoesNotChangeReads) {
  const std::string dir = harness_->TempDir();
  bool finished = false;
  Run(1, [&](Io& io) -> Task<void> {
    CO_ASSIGN_OK(std::unique_ptr<File> f,
                 co_await io.fs().Open(JoinPath(dir, "p"), OpenOptions{.create = true}));
    CO_ASSERT_OK(co_await f->WriteAt(0, ToBytes("0123456789")));
    CO_ASSERT_OK(co_await f->Preallocate(0, 1 << 20));
    CO_ASSIGN_OK(uint64_t size, co_await f->Size());
    EXPECT_EQ(size, 10u);
    Bytes buf(64);
    CO_ASSIGN_OK(size_t n, co_await f->ReadAt(0, buf));
    EXPECT_EQ(n, 10u);
    EXPECT_EQ(ToString(std::span(buf).first(n)), "0123456789");
    // Writing into the reserved range extends the file as usual.
    CO_ASSERT_OK(co_await f->WriteAt(4096, ToBytes("z")));
    CO_ASSIGN_OK(size, co_await f->Size());
    EXPECT_EQ(size, 4097u);
    CO_ASSERT_OK(co_await f->Close());
    finished = true;
  });
  EXPECT_TRUE(finished);
}

TEST_P(IoContract, FileOpenOptions) {
  const std::string dir = harness_->TempDir();
  bool finished = false;
  Run(1, [&](Io& io) -> Task<void> {
    const std::string path = JoinPath(dir, "o");
    Result<std::unique_ptr<File>> missing = co_await io.fs().Open(path, OpenOptions{});
    EXPECT_TRUE(missing.status().Is(ErrorKind::kNotFound)) << missing.status().ToString();
    Result<std::unique_ptr<File>> missing_ro =
        co_await io.fs().Open(path, OpenOptions{.read_only = true});
    EXPECT_TRUE(missing_ro.status().Is(ErrorKind::kNotFound)) << missing_ro.status().ToString();

    CO_ASSIGN_OK(std::unique_ptr<File> f,
                 co_await io.fs().Open(path, OpenOptions{.create = true, .exclusive = true}));
    CO_ASSERT_OK(co_await f->WriteAt(0, ToBytes("abc")));
    CO_ASSERT_OK(co_await f->Close());

    Result<std::unique_ptr<File>> again =
        co_await io.fs().Open(path, OpenOptions{.create = true, .exclusive = true});
    EXPECT_TRUE(again.status().Is(ErrorKind::kAlreadyExists)) << again.status().ToString();

    // create without exclusive opens the existing file and keeps its bytes.
    CO_ASSIGN_OK(std::unique_ptr<File> keep,
                 co_await io.fs().Open(path, OpenOptions{.create = true}));
    CO_ASSIGN_OK(uint64_t size, co_await keep->Size());
    EXPECT_EQ(size, 3u);
    CO_ASSERT_OK(co_await keep->Close());

    CO_ASSIGN_OK(std::unique_ptr<File> trunc,
                 co_await io.fs().Open(path, OpenOptions{.truncate = true}));
    CO_ASSIGN_OK(size, co_await trunc->Size());
    EXPECT_EQ(size, 0u);
    CO_ASSERT_OK(co_await trunc->Close());
    finished = true;
  });
  EXPECT_TRUE(finished);
}

TEST_P(IoContract, FileDirectIoAlignedRoundTrip) {
  const std::string dir = harness_->TempDir();
  bool finished = false;
  Run(1, [&](Io& io) -> Task<void> {
    CO_ASSIGN_OK(
        std::unique_ptr<File> f,
        co_await io.fs().Open(JoinPath(dir, "d"), OpenOptions{.create = true, .direct = true}));
    AlignedBuffer out(2 * kDirectIoAlignment);
    io.rng().Fill(out.span());
    CO_ASSERT_OK(co_await f->WriteAt(0, out.span()));
    CO_ASSERT_OK(co_await f->WriteAt(2 * kDirectIoAlignment, out.span()));
    CO_ASSIGN_OK(uint64_t size, co_await f->Size());
    EXPECT_EQ(size, 4 * kDirectIoAlignment);
    AlignedBuffer in(2 * kDirectIoAlignment);
    CO_ASSIGN_OK(size_t n, co_await f->ReadAt(kDirectIoAlignment, in.span()));
    EXPECT_EQ(n, 2 * kDirectIoAlignment);
    // [4096, 12288) is the second half of the first write, then the first half of the second.
    EXPECT_EQ(std::memcmp(in.data, out.data + kDirectIoAlignment, kDirectIoAlignment), 0);
    EXPECT_EQ(std::memcmp(in.data + kDirectIoAlignment, out.data, kDirectIoAlignment), 0);
    CO_ASSERT_OK(co_await f->Sync());
    // Misaligned offsets are refused.
    Status bad = co_await f->WriteAt(100, out.span());
    EXPECT_TRUE(bad.Is(ErrorKind::kInvalidArgument)) << bad.ToString();
    CO_ASSERT_OK(co_await f->Close());
    finished = true;
  });
  EXPECT_TRUE(finished);
}

// Parameters by value: callers keep the Task for later (WhenAll) while their arguments die.
Task<Status> WriteNamed(FileSystem& fs, std::string path, std::string text) {
  RUNNEL_CO_ASSIGN_OR_RETURN(std::unique_ptr<File> f,
                             co_await fs.Open(path, OpenOptions{.create = true, .truncate = true}));
  RUNNEL_CO_TRY(co_await f->WriteAt(0, ToBytes(text)));
  co_return co_await f->Close();
}

std::vector<std::string> Names(const std::vector<DirEntry>& entries) {
  std::vector<std::string> names;
  for (const DirEntry& e : entries) names.push_back(e.name + (e.is_dir ? "/" : ""));
  return names;
}

TEST_P(IoContract, FileSystemListRenameRemoveExists) {
  const std::string dir = harness_->TempDir();
  bool finished = false;
  Run(1, [&](Io& io) -> Task<void> {
    FileSystem& fs = io.fs();
    const std::string a = JoinPath(dir, "a"), b = JoinPath(dir, "b"), c = JoinPath(dir, "c");
    CO_ASSERT_OK(co_await WriteNamed(fs, b, "bee"));
    CO_ASSERT_OK(co_await WriteNamed(fs, a, "ay"));
    CO_ASSERT_OK(co_await fs.MakeDir(c));
    CO_ASSERT_OK(co_await WriteNamed(fs, JoinPath(c, "inner"), "x"));
    CO_ASSERT_OK(co_await fs.SyncDir(dir));

    CO_ASSIGN_OK(std::vector<DirEntry> listed, co_await fs.List(dir));
    EXPECT_EQ(Names(listed), (std::vector<std::string>{"a", "b", "c/"}));
    CO_ASSIGN_OK(bool exists, co_await fs.Exists(a));
    EXPECT_TRUE(exists);
    CO_ASSIGN_OK(exists, co_await fs.Exists(c));
    EXPECT_TRUE(exists);
    CO_ASSIGN_OK(exists, co_await fs.Exists(JoinPath(dir, "zzz")));
    EXPECT_FALSE(exists);

    // Rename over an existing file replaces it.
    CO_ASSERT_OK(co_await fs.Rename(a, b));
    CO_ASSIGN_OK(exists, co_await fs.Exists(a));
    EXPECT_FALSE(exists);
    CO_ASSIGN_OK(Bytes content, co_await ReadFile(fs, b, 1024));
    EXPECT_EQ(ToString(content), "ay");
    CO_ASSIGN_OK(listed, co_await fs.List(dir));
    EXPECT_EQ(Names(listed), (std::vector<std::string>{"b", "c/"}));
    CO_ASSERT_OK(co_await fs.SyncDir(dir));

    Status s = co_await fs.Rename(a, JoinPath(dir, "elsewhere"));
    EXPECT_TRUE(s.Is(ErrorKind::kNotFound)) << s.ToString();

    // Remove a file, then an emptied directory; removing twice is NotFound.
    CO_ASSERT_OK(co_await fs.Remove(b));
    s = co_await fs.Remove(b);
    EXPECT_TRUE(s.Is(ErrorKind::kNotFound)) << s.ToString();
    s = co_await fs.MakeDir(c);
    EXPECT_TRUE(s.Is(ErrorKind::kAlreadyExists)) << s.ToString();
    CO_ASSERT_OK(co_await fs.Remove(JoinPath(c, "inner")));
    CO_ASSERT_OK(co_await fs.Remove(c));
    CO_ASSIGN_OK(listed, co_await fs.List(dir));
    EXPECT_TRUE(listed.empty()) << ::testing::PrintToString(Names(listed));

    Result<std::vector<DirEntry>> gone = co_await fs.List(JoinPath(dir, "nope"));
    EXPECT_TRUE(gone.status().Is(ErrorKind::kNotFound)) << gone.status().ToString();

    // MakeDirs creates missing parents; WriteFileAtomic leaves no temp file behind.
    const std::string deep = JoinPath(dir, "x/y/z");
    CO_ASSERT_OK(co_await MakeDirs(fs, deep));
    CO_ASSIGN_OK(exists, co_await fs.Exists(deep));
    EXPECT_TRUE(exists);
    CO_ASSERT_OK(co_await WriteFileAtomic(fs, JoinPath(deep, "meta"), ToBytes("v1")));
    CO_ASSERT_OK(co_await WriteFileAtomic(fs, JoinPath(deep, "meta"), ToBytes("version 2")));
    CO_ASSIGN_OK(content, co_await ReadFile(fs, JoinPath(deep, "meta"), 1024));
    EXPECT_EQ(ToString(content), "version 2");
    CO_ASSIGN_OK(listed, co_await fs.List(deep));
    EXPECT_EQ(Names(listed), (std::vector<std::string>{"meta"}));
    CO_ASSIGN_OK(listed, co_await fs.List(JoinPath(dir, "x")));
    EXPECT_EQ(Names(listed), (std::vector<std::string>{"y/"}));
    finished = true;
  });
  EXPECT_TRUE(finished);
}

TEST_P(IoContract, FileManyConcurrentWriters) {
  const std::string dir = harness_->TempDir();
  bool finished = false;
  Run(1, [&](Io& io) -> Task<void> {
    constexpr int kFiles = 64;
    std::vector<Task<Status>> writers;
    for (int i = 0; i < kFiles; i++) {
      writers.push_back(WriteNamed(io.fs(), JoinPath(dir, fmt::format("f{:03}", i)),
                                   fmt::format("content of file {}", i)));
    }
    std::vector<Status> results = co_await WhenAll(std::move(writers));
    for (const Status& s : results) EXPECT_TRUE(s.ok()) << s.ToString();
    CO_ASSIGN_OK(std::vector<DirEntry> listed, co_await io.fs().List(dir));
    CO_ASSERT_TRUE(listed.size() == kFiles);
    for (int i = 0; i < kFiles; i++) {
      EXPECT_EQ(listed[static_cast<size_t>(i)].name, fmt::format("f{:03}", i));
      CO_ASSIGN_OK(Bytes content, co_await ReadFile(io.fs(), JoinPath(dir, listed[i].name), 100));
      EXPECT_EQ(ToString(content), fmt::format("content of file {}", i));
    }
    finished = true;
  });
  EXPECT_TRUE(finished);
}

// --- Sockets -----------------------------------------------------------------------------------

Task<Status> EchoUntilEof(Socket& s) {
  Bytes buf(256 << 10);
  for (;;) {
    RUNNEL_CO_ASSIGN_OR_RETURN(size_t n, co_await s.Recv(buf));
    if (n == 0) break;
    RUNNEL_CO_TRY(co_await s.Send(std::span(buf).first(n)));
  }
  RUNNEL_CO_TRY(co_await s.ShutdownWrite());
  co_return Status::Ok();
}

Task<Status> SendAllThenShutdown(Socket& s, std::span<const std::byte> data, size_t chunk) {
  for (size_t off = 0; off < data.size(); off += chunk) {
    RUNNEL_CO_TRY(co_await s.Send(data.subspan(off, std::min(chunk, data.size() - off))));
  }
  co_return co_await s.ShutdownWrite();
}

Task<Status> RecvAllUntilEof(Socket& s, Bytes& out, size_t expected) {
  out.assign(expected, std::byte{0});
  RUNNEL_CO_TRY(co_await RecvExactly(s, out));
  Bytes extra(16);
  RUNNEL_CO_ASSIGN_OR_RETURN(size_t n, co_await s.Recv(extra));
  if (n != 0) co_return Status::Corruption(fmt::format("{} bytes after the expected end", n));
  co_return Status::Ok();
}

TEST_P(IoContract, SocketEchoLargeTransfersBothWays) {
  const std::string host = harness_->LoopbackHost();
  bool finished = false;
  Run(1, [&](Io& io) -> Task<void> {
    constexpr size_t kBytes = 8 << 20;
    CO_ASSIGN_OK(std::unique_ptr<Listener> listener, co_await io.net().Listen(Address{host, 0}));
    const Address at = listener->local();
    EXPECT_EQ(at.host, host);
    EXPECT_NE(at.port, 0);
    const Bytes data = RandomBytes(io.rng(), kBytes);
    Bytes echoed;
    std::unique_ptr<Socket> server_side;
    std::unique_ptr<Socket> client;

    auto server = [](Listener& l, std::unique_ptr<Socket>& out) -> Task<Status> {
      RUNNEL_CO_ASSIGN_OR_RETURN(out, co_await l.Accept());
      co_return co_await EchoUntilEof(*out);
    };
    auto client_side = [](Io& io, Address at, std::unique_ptr<Socket>& out, const Bytes& data,
                          Bytes& echoed) -> Task<Status> {
      RUNNEL_CO_ASSIGN_OR_RETURN(out, co_await io.net().Connect(at));
      // Send and receive at once on one socket: 8 MiB does not fit in the socket buffers.
      std::vector<Task<Status>> both;
      both.push_back(SendAllThenShutdown(*out, data, 1 << 20));
      both.push_back(RecvAllUntilEof(*out, echoed, data.size()));
      std::vector<Status> r = co_await WhenAll(std::move(both));
      RUNNEL_CO_TRY(r[0]);
      co_return r[1];
    };
    std::vector<Task<Status>> sides;
    sides.push_back(server(*listener, server_side));
    sides.push_back(client_side(io, at, client, data, echoed));
    std::vector<Status> results = co_await WhenAll(std::move(sides));
    EXPECT_TRUE(results[0].ok()) << "server: " << results[0].ToString();
    EXPECT_TRUE(results[1].ok()) << "client: " << results[1].ToString();
    CO_ASSERT_TRUE(client != nullptr && server_side != nullptr);
    EXPECT_EQ(echoed.size(), data.size());
    EXPECT_TRUE(echoed == data) << "echoed bytes differ";
    EXPECT_EQ(client->peer(), at);
    EXPECT_EQ(server_side->peer(), client->local());
    EXPECT_EQ(server_side->local(), client->peer());
    CO_ASSERT_OK(co_await client->Close());
    CO_ASSERT_OK(co_await server_side->Close());
    CO_ASSERT_OK(co_await listener->Close());
    finished = true;
  });
  EXPECT_TRUE(finished);
}

TEST_P(IoContract, ConnectToClosedPortIsRefused) {
  const std::string host = harness_->LoopbackHost();
  bool finished = false;
  Run(1, [&](Io& io) -> Task<void> {
    CO_ASSIGN_OK(std::unique_ptr<Listener> listener, co_await io.net().Listen(Address{host, 0}));
    const Address at = listener->local();
    CO_ASSERT_OK(co_await listener->Close());
    Result<std::unique_ptr<Socket>> s = co_await io.net().Connect(at);
    EXPECT_TRUE(s.status().Is(ErrorKind::kRefused)) << s.status().ToString();
    finished = true;
  });
  EXPECT_TRUE(finished);
}

TEST_P(IoContract, ShutdownWriteGivesEofAndTheOtherWayStaysOpen) {
  const std::string host = harness_->LoopbackHost();
  bool finished = false;
  Run(1, [&](Io& io) -> Task<void> {
    CO_ASSIGN_OK(std::unique_ptr<Listener> listener, co_await io.net().Listen(Address{host, 0}));
    auto server = [](Listener& l, std::vector<std::string>& log) -> Task<Status> {
      RUNNEL_CO_ASSIGN_OR_RETURN(std::unique_ptr<Socket> s, co_await l.Accept());
      Bytes ping(4);
      RUNNEL_CO_TRY(co_await RecvExactly(*s, ping));
      log.push_back("server got " + ToString(ping));
      Bytes more(8);
      RUNNEL_CO_ASSIGN_OR_RETURN(size_t n, co_await s->Recv(more));
      log.push_back(n == 0 ? "server saw eof" : "server saw more bytes");
      // Half-closed: this direction still works.
      RUNNEL_CO_TRY(co_await s->Send(ToBytes("pong")));
      co_return co_await s->Close();
    };
    auto client = [](Io& io, Address at, std::vector<std::string>& log) -> Task<Status> {
      RUNNEL_CO_ASSIGN_OR_RETURN(std::unique_ptr<Socket> s, co_await io.net().Connect(at));
      RUNNEL_CO_TRY(co_await s->Send(ToBytes("ping")));
      RUNNEL_CO_TRY(co_await s->ShutdownWrite());
      Bytes pong(4);
      RUNNEL_CO_TRY(co_await RecvExactly(*s, pong));
      log.push_back("client got " + ToString(pong));
      Bytes more(8);
      RUNNEL_CO_ASSIGN_OR_RETURN(size_t n, co_await s->Recv(more));
      log.push_back(n == 0 ? "client saw eof" : "client saw more bytes");
      co_return co_await s->Close();
    };
    std::vector<std::string> log;
    std::vector<Task<Status>> sides;
    sides.push_back(server(*listener, log));
    sides.push_back(client(io, listener->local(), log));
    std::vector<Status> r = co_await WhenAll(std::move(sides));
    EXPECT_TRUE(r[0].ok()) << r[0].ToString();
    EXPECT_TRUE(r[1].ok()) << r[1].ToString();
    EXPECT_EQ(log, (std::vector<std::string>{"server got ping", "server saw eof", "client got pong",
                                             "client saw eof"}));
    CO_ASSERT_OK(co_await listener->Close());
    finished = true;
  });
  EXPECT_TRUE(finished);
}

TEST_P(IoContract, CloseFailsPendingRecvAndAccept) {
  const std::string host = harness_->LoopbackHost();
  bool finished = false;
  Run(1, [&](Io& io) -> Task<void> {
    CO_ASSIGN_OK(std::unique_ptr<Listener> listener, co_await io.net().Listen(Address{host, 0}));
    CO_ASSIGN_OK(std::unique_ptr<Socket> client, co_await io.net().Connect(listener->local()));
    CO_ASSIGN_OK(std::unique_ptr<Socket> server_side, co_await listener->Accept());

    // Nobody sends: the Recv stays pending until Close fails it.
    Status recv_status;
    Status accept_status;
    std::vector<std::string> log;
    auto receiver = [](Socket& s, Status& out, std::vector<std::string>& log) -> Task<void> {
      Bytes buf(16);
      Result<size_t> r = co_await s.Recv(buf);
      log.push_back("recv resolved");
      out = r.ok() ? Status::Io(fmt::format("Recv returned {} bytes", *r)) : r.status();
    };
    auto acceptor = [](Listener& l, Status& out, std::vector<std::string>& log) -> Task<void> {
      Result<std::unique_ptr<Socket>> r = co_await l.Accept();
      log.push_back("accept resolved");
      out = r.ok() ? Status::Io("Accept returned a socket") : r.status();
    };
    auto closer = [](Io& io, Socket& s, Listener& l, std::vector<std::string>& log) -> Task<void> {
      co_await io.Sleep(std::chrono::milliseconds(20));
      log.push_back("closing");
      EXPECT_TRUE((co_await s.Close()).ok());
      EXPECT_TRUE((co_await l.Close()).ok());
    };
    std::vector<Task<void>> all;
    all.push_back(receiver(*client, recv_status, log));
    all.push_back(acceptor(*listener, accept_status, log));
    all.push_back(closer(io, *client, *listener, log));
    co_await WhenAll(std::move(all));
    CO_ASSERT_TRUE(log.size() == 3);
    EXPECT_EQ(log[0], "closing");
    EXPECT_TRUE(recv_status.Is(ErrorKind::kClosed) || recv_status.Is(ErrorKind::kCancelled))
        << recv_status.ToString();
    EXPECT_TRUE(accept_status.Is(ErrorKind::kClosed)) << accept_status.ToString();
    // Once closed, everything fails.
    Bytes buf(4);
    EXPECT_FALSE((co_await client->Recv(buf)).ok());
    EXPECT_FALSE((co_await client->Send(ToBytes("late"))).ok());
    // The other end sees the stream end.
    CO_ASSIGN_OK(size_t n, co_await server_side->Recv(buf));
    EXPECT_EQ(n, 0u);
    CO_ASSERT_OK(co_await server_side->Close());
    finished = true;
  });
  EXPECT_TRUE(finished);
}

TEST_P(IoContract, SendFileSendsExactlyTheFileBytes) {
  const std::string dir = harness_->TempDir();
  const std::string host = harness_->LoopbackHost();
  bool finished = false;
  Run(1, [&](Io& io) -> Task<void> {
    const size_t kFileBytes = (3 << 20) + 123;
    const Bytes content = RandomBytes(io.rng(), kFileBytes);
    CO_ASSIGN_OK(std::unique_ptr<File> file,
                 co_await io.fs().Open(JoinPath(dir, "segment.log"), OpenOptions{.create = true}));
    CO_ASSERT_OK(co_await file->WriteAt(0, content));

    struct Range {
      uint64_t offset;
      uint64_t len;
    };
    const std::vector<Range> ranges = {
        {0, kFileBytes},
        {1, 1},
        {4097, 777},
        {12345, (1 << 20) + 3},
        {kFileBytes - 1, 1},
        {7, 0},
        {999999, (2 << 20) + 1},
        {0, 65536},
    };
    CO_ASSIGN_OK(std::unique_ptr<Listener> listener, co_await io.net().Listen(Address{host, 0}));
    auto server = [](Listener& l, File& f, const std::vector<Range>& ranges,
                     uint64_t file_bytes) -> Task<Status> {
      RUNNEL_CO_ASSIGN_OR_RETURN(std::unique_ptr<Socket> s, co_await l.Accept());
      for (const Range& r : ranges) RUNNEL_CO_TRY(co_await s->SendFile(f, r.offset, r.len));
      // Past the end of the file: refused.
      Status past = co_await s->SendFile(f, file_bytes - 10, 11);
      if (!past.Is(ErrorKind::kCorruption)) {
        co_return Status::Io("send_file past EOF gave " + past.ToString());
      }
      co_return co_await s->Close();
    };
    auto client = [](Io& io, Address at, const Bytes& content,
                     const std::vector<Range>& ranges) -> Task<Status> {
      RUNNEL_CO_ASSIGN_OR_RETURN(std::unique_ptr<Socket> s, co_await io.net().Connect(at));
      for (const Range& r : ranges) {
        Bytes got(r.len);
        RUNNEL_CO_TRY(co_await RecvExactly(*s, got));
        if (!std::equal(got.begin(), got.end(), content.begin() + r.offset)) {
          co_return Status::Corruption(fmt::format("range [{}, +{}) differs", r.offset, r.len));
        }
      }
      co_return co_await s->Close();
    };
    std::vector<Task<Status>> sides;
    sides.push_back(server(*listener, *file, ranges, kFileBytes));
    sides.push_back(client(io, listener->local(), content, ranges));
    std::vector<Status> r = co_await WhenAll(std::move(sides));
    EXPECT_TRUE(r[0].ok()) << "server: " << r[0].ToString();
    EXPECT_TRUE(r[1].ok()) << "client: " << r[1].ToString();
    CO_ASSERT_OK(co_await listener->Close());
    CO_ASSERT_OK(co_await file->Close());
    finished = true;
  });
  EXPECT_TRUE(finished);
}

Task<Status> EchoOnce(std::unique_ptr<Socket> s) {
  Bytes buf(64);
  RUNNEL_CO_ASSIGN_OR_RETURN(size_t n, co_await s->Recv(buf));
  while (n > 0) {
    RUNNEL_CO_TRY(co_await s->Send(std::span(buf).first(n)));
    RUNNEL_CO_ASSIGN_OR_RETURN(n, co_await s->Recv(buf));
  }
  co_return co_await s->Close();
}

Task<Status> AcceptAndEcho(Listener& l, int connections) {
  std::vector<Task<Status>> handlers;
  for (int i = 0; i < connections; i++) {
    RUNNEL_CO_ASSIGN_OR_RETURN(std::unique_ptr<Socket> s, co_await l.Accept());
    handlers.push_back(EchoOnce(std::move(s)));
  }
  for (const Status& s : co_await WhenAll(std::move(handlers))) RUNNEL_CO_TRY(s);
  co_return Status::Ok();
}

Task<Result<std::string>> RoundTrip(Io& io, Address at, int i) {
  RUNNEL_CO_ASSIGN_OR_RETURN(std::unique_ptr<Socket> s, co_await io.net().Connect(at));
  const std::string msg = fmt::format("request {:04}", i);
  RUNNEL_CO_TRY(co_await s->Send(ToBytes(msg)));
  Bytes reply(msg.size());
  RUNNEL_CO_TRY(co_await RecvExactly(*s, reply));
  RUNNEL_CO_TRY(co_await s->Close());
  co_return ToString(reply);
}

TEST_P(IoContract, WhenAllOverManyConcurrentRoundTrips) {
  const std::string host = harness_->LoopbackHost();
  bool finished = false;
  Run(1, [&](Io& io) -> Task<void> {
    constexpr int kConnections = 200;
    CO_ASSIGN_OK(std::unique_ptr<Listener> listener, co_await io.net().Listen(Address{host, 0}));
    auto clients = [](Io& io, Address at, std::vector<Result<std::string>>& out) -> Task<Status> {
      std::vector<Task<Result<std::string>>> trips;
      for (int i = 0; i < kConnections; i++) trips.push_back(RoundTrip(io, at, i));
      out = co_await WhenAll(std::move(trips));
      co_return Status::Ok();
    };
    std::vector<Result<std::string>> replies;
    std::vector<Task<Status>> sides;
    sides.push_back(AcceptAndEcho(*listener, kConnections));
    sides.push_back(clients(io, listener->local(), replies));
    std::vector<Status> r = co_await WhenAll(std::move(sides));
    EXPECT_TRUE(r[0].ok()) << r[0].ToString();
    CO_ASSERT_TRUE(replies.size() == kConnections);
    for (int i = 0; i < kConnections; i++) {
      const Result<std::string>& reply = replies[static_cast<size_t>(i)];
      EXPECT_TRUE(reply.ok()) << reply.status().ToString();
      if (reply.ok()) {
        EXPECT_EQ(*reply, fmt::format("request {:04}", i));
      }
    }
    CO_ASSERT_OK(co_await listener->Close());
    finished = true;
  });
  EXPECT_TRUE(finished);
}

// --- Timers ------------------------------------------------------------------------------------

TEST_P(IoContract, SleepsEndInDeadlineOrderAndNeverEarly) {
  std::vector<int> order;
  Duration elapsed{};
  Run(1, [&](Io& io) -> Task<void> {
    const Instant t0 = io.clock().Now();
    auto sleeper = [](Io& io, Instant until, int id, std::vector<int>& order) -> Task<void> {
      co_await io.clock().SleepUntil(until);
      EXPECT_GE(io.clock().Now(), until);
      order.push_back(id);
    };
    std::vector<Task<void>> all;
    all.push_back(sleeper(io, t0 + std::chrono::milliseconds(150), 3, order));
    all.push_back(sleeper(io, t0 + std::chrono::milliseconds(50), 1, order));
    all.push_back(sleeper(io, t0 + std::chrono::milliseconds(100), 2, order));
    all.push_back(sleeper(io, t0 - std::chrono::milliseconds(5), 0, order));  // already past
    co_await WhenAll(std::move(all));
    elapsed = io.clock().Now() - t0;
    // Sleep(d) is relative to now.
    const Instant before = io.clock().Now();
    co_await io.Sleep(std::chrono::milliseconds(30));
    EXPECT_GE(io.clock().Now() - before, std::chrono::milliseconds(30));
  });
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_GE(elapsed, std::chrono::milliseconds(150));
}

TEST_P(IoContract, TimersCancel) {
  std::vector<std::string> log;
  Run(1, [&](Io& io) -> Task<void> {
    Clock& clock = io.clock();
    const Instant now = clock.Now();
    TimerId never = clock.StartTimer(now + std::chrono::milliseconds(20),
                                     [&log] { log.push_back("cancelled timer fired"); });
    TimerId fires =
        clock.StartTimer(now + std::chrono::milliseconds(10), [&log] { log.push_back("fired"); });
    EXPECT_NE(never, fires);
    EXPECT_TRUE(clock.CancelTimer(never));
    EXPECT_FALSE(clock.CancelTimer(never));
    co_await io.Sleep(std::chrono::milliseconds(50));
    EXPECT_FALSE(clock.CancelTimer(fires));  // already fired
    log.push_back("done");
  });
  EXPECT_EQ(log, (std::vector<std::string>{"fired", "done"}));
}

TEST_P(IoContract, WithTimeoutTimesOutOrPasses) {
  Status slow, fast_error;
  Result<int> fast_value = Status::Io("not run");
  Run(1, [&](Io& io) -> Task<void> {
    auto sleepy = [](Io& io, Duration d, Status out) -> Task<Status> {
      co_await io.Sleep(d);
      co_return out;
    };
    slow = co_await WithTimeout(io.executor(), io.clock(), std::chrono::milliseconds(30),
                                sleepy(io, std::chrono::seconds(2), Status::Ok()));
    fast_error =
        co_await WithTimeout(io.executor(), io.clock(), std::chrono::seconds(10),
                             sleepy(io, std::chrono::milliseconds(1), Status::Io("fast failure")));
    fast_value = co_await WithTimeout<int>(io.executor(), io.clock(), std::chrono::seconds(10),
                                           [](Io& io) -> Task<Result<int>> {
                                             co_await io.Sleep(std::chrono::milliseconds(2));
                                             co_return 7;
                                           }(io));
  });
  EXPECT_TRUE(slow.Is(ErrorKind::kTimeout)) << slow.ToString();
  EXPECT_TRUE(fast_error.Is(ErrorKind::kIo)) << fast_error.ToString();
  EXPECT_EQ(fast_error.message(), "fast failure");
  ASSERT_TRUE(fast_value.ok()) << fast_value.status().ToString();
  EXPECT_EQ(*fast_value, 7);
}

TEST_P(IoContract, NotifyWakesOrTimesOut) {
  std::vector<std::string> log;
  Run(1, [&](Io& io) -> Task<void> {
    Notify notify(io.executor(), io.clock());
    auto waiter = [](Notify& n, Duration timeout, std::string name,
                     std::vector<std::string>& log) -> Task<void> {
      bool woken = co_await n.Wait(timeout);
      log.push_back(name + (woken ? " woken" : " timed out"));
    };
    auto notifier = [](Io& io, Notify& n, std::vector<std::string>& log) -> Task<void> {
      // Notify only once the short wait has timed out (a fixed delay could race it on a busy
      // machine), while the others are still waiting.
      while (log.empty()) co_await io.Sleep(std::chrono::milliseconds(5));
      EXPECT_EQ(n.waiting(), 2u);
      log.push_back("notify");
      n.NotifyAll();
    };
    std::vector<Task<void>> all;
    all.push_back(waiter(notify, std::chrono::milliseconds(10), "short", log));
    all.push_back(waiter(notify, std::chrono::seconds(20), "long", log));
    all.push_back(waiter(notify, Duration::max() / 4, "forever", log));
    all.push_back(notifier(io, notify, log));
    co_await WhenAll(std::move(all));
    EXPECT_EQ(notify.waiting(), 0u);
    // A notification with nobody waiting is not remembered.
    notify.NotifyAll();
    bool woken = co_await notify.Wait(std::chrono::milliseconds(5));
    log.push_back(woken ? "late woken" : "late timed out");
  });
  ASSERT_EQ(log.size(), 5u);
  EXPECT_EQ(log[0], "short timed out");
  EXPECT_EQ(log[1], "notify");
  // Both notified waiters wake; their relative order is the implementation's.
  std::vector<std::string> woken = {log[2], log[3]};
  std::sort(woken.begin(), woken.end());
  EXPECT_EQ(woken, (std::vector<std::string>{"forever woken", "long woken"}));
  EXPECT_EQ(log[4], "late timed out");
}

// --- Shards ------------------------------------------------------------------------------------

TEST_P(IoContract, InvokeRunsOnTheTargetShardAndReturns) {
  int got = -1;
  ShardId seen_inside = 99;
  ShardId back_on = 99;
  uint32_t count = 0;
  Run(2, [&](Io& io) -> Task<void> {
    count = io.shards().count();
    got = co_await Invoke<int>(io.shards(), 1, [&seen_inside](Io& there) -> Task<int> {
      seen_inside = there.shard();
      co_await there.Sleep(std::chrono::milliseconds(1));  // the target's clock and loop work
      co_return 40 + static_cast<int>(there.shard()) * 2;
    });
    back_on = io.shard();
    // Invoke to self runs in place.
    int self = co_await Invoke<int>(io.shards(), 0, [](Io& here) -> Task<int> {
      co_return static_cast<int>(here.shard()) + 5;
    });
    EXPECT_EQ(self, 5);
  });
  EXPECT_EQ(count, 2u);
  EXPECT_EQ(got, 42);
  EXPECT_EQ(seen_inside, 1u);
  EXPECT_EQ(back_on, 0u);
}

// Each shard's counter is touched only on that shard (Invoke moves there first).
Task<int> CountOn(Io& io, ShardId to, std::vector<uint64_t>& counters, int value) {
  co_return co_await Invoke<int>(io.shards(), to, [&counters, value](Io& there) -> Task<int> {
    counters[there.shard()]++;
    co_return value;
  });
}

TEST_P(IoContract, ManyConcurrentInvokesAcrossThreeShards) {
  constexpr int kPosts = 3000;
  std::vector<uint64_t> counters(3, 0);
  std::vector<int> results;
  std::vector<uint64_t> read_back;
  int chained = -1;
  Run(3, [&](Io& io) -> Task<void> {
    std::vector<Task<int>> calls;
    for (int i = 0; i < kPosts; i++) {
      calls.push_back(CountOn(io, static_cast<ShardId>(1 + i % 2), counters, i));
    }
    results = co_await WhenAll(std::move(calls));
    // Read each counter on its own shard.
    for (ShardId s = 0; s < 3; s++) {
      uint64_t v = co_await Invoke<uint64_t>(
          io.shards(), s,
          [&counters](Io& there) -> Task<uint64_t> { co_return counters[there.shard()]; });
      read_back.push_back(v);
    }
    // 0 -> 1 -> 2 and back, with SwitchTo in the middle.
    chained = co_await Invoke<int>(io.shards(), 1, [](Io& one) -> Task<int> {
      int from_two = co_await Invoke<int>(one.shards(), 2, [](Io& two) -> Task<int> {
        co_return static_cast<int>(two.shard()) * 10;
      });
      co_return from_two + static_cast<int>(one.shard());
    });
    Io& two = io.shards().IoOf(2);
    co_await SwitchTo{io.shards(), 2};
    co_await two.Sleep(std::chrono::milliseconds(1));
    co_await SwitchTo{two.shards(), 0};
  });
  ASSERT_EQ(results.size(), static_cast<size_t>(kPosts));
  for (int i = 0; i < kPosts; i++) EXPECT_EQ(results[static_cast<size_t>(i)], i);
  EXPECT_EQ(read_back, (std::vector<uint64_t>{0, kPosts / 2, kPosts / 2}));
  EXPECT_EQ(chained, 21);
}

INSTANTIATE_TEST_SUITE_P(Harnesses, IoContract, ::testing::ValuesIn(testing::HarnessNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           std::replace_if(
                               name.begin(), name.end(), [](char c) { return !std::isalnum(c); },
                               '_');
                           return name;
                         });

}  // namespace
}  // namespace runnel
