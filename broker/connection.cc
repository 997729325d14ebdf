#include "broker/connection.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "broker/fetch_wait.h"
#include "broker/handlers/handler.h"
#include "broker/protocol/frame.h"

namespace runnel::broker {
namespace {

// Bytes asked of one Recv.
constexpr size_t kRecvBytesMax = 64 * 1024;

// Large request buffers are kept for the connection's next requests (a producer sends ~1 MiB
// Produce after ~1 MiB Produce): a fresh buffer of that size is a fresh mmap (or trimmed arena
// top) whose every page faults in again. At most kSpareFramesMax buffers of kPooledFrameBytesMin
// to kPooledFrameBytesMax bytes per connection, freed with it.
constexpr size_t kPooledFrameBytesMin = 64 * 1024;
constexpr size_t kPooledFrameBytesMax = 2 * 1024 * 1024;
constexpr size_t kSpareFramesMax = 4;

// A request buffer, not zero-filled (every byte of a frame is written by the copy or the Recv
// that fills it before anything reads it).
struct FrameBuffer {
  std::unique_ptr<uint8_t[]> data;
  size_t capacity = 0;
};

// One admitted request: its frame, and (once its handler finished) its response.
struct Slot {
  // The buffer is kept until the response is written, because handlers work on spans into it
  // (Produce appends its records from here).
  Slot(FrameBuffer buffer_in, size_t frame_bytes_in)
      : buffer(std::move(buffer_in)), frame_bytes(frame_bytes_in) {}
  std::span<uint8_t> frame() { return {buffer.data.get(), frame_bytes}; }

  FrameBuffer buffer;
  size_t frame_bytes;
  std::optional<Result<Response>> result;
  std::coroutine_handle<> waiter;
  int16_t api_key = -1;
  int16_t api_version = -1;
};

struct Conn {
  Conn(Io& io_in, Node& node_in, std::unique_ptr<Socket> socket_in)
      : io(io_in),
        node(node_in),
        shard(node_in.Local(io_in)),
        stream(std::move(socket_in)),
        peer(stream->peer()),
        pending(io_in.executor(),
                static_cast<size_t>(node_in.config().connection_max_inflight_requests)),
        requests(io_in.executor(),
                 static_cast<uint64_t>(node_in.config().connection_max_inflight_requests)),
        bytes(io_in.executor(),
              static_cast<uint64_t>(node_in.config().connection_max_inflight_bytes)),
        closed_notify(io_in.executor(), io_in.clock()),
        last_activity(io_in.clock().Now()),
        id(shard.next_connection_id++) {}

  Io& io;
  Node& node;
  ShardState& shard;
  std::unique_ptr<Socket> stream;
  Address peer;
  Channel<std::shared_ptr<Slot>> pending;  // capacity connection.max.inflight.requests
  Semaphore requests;                      // connection.max.inflight.requests
  Semaphore bytes;                         // connection.max.inflight.bytes
  Notify closed_notify;
  Instant last_activity;
  uint64_t inflight = 0;
  bool closing = false;
  uint64_t id;                            // ShardState::next_connection_id
  std::vector<FrameBuffer> spare_frames;  // at most kSpareFramesMax

  void Touch() { last_activity = io.clock().Now(); }

  // A buffer for a frame of `frame_bytes`: for a large frame the smallest spare that fits, else
  // a new one (large ones rounded up to 64 KiB so that the next request, a little larger, fits).
  FrameBuffer TakeFrameBuffer(size_t frame_bytes) {
    auto best = spare_frames.end();
    for (auto it = spare_frames.begin();
         frame_bytes >= kPooledFrameBytesMin && it != spare_frames.end(); ++it) {
      if (it->capacity >= frame_bytes &&
          (best == spare_frames.end() || it->capacity < best->capacity)) {
        best = it;
      }
    }
    if (best != spare_frames.end()) {
      FrameBuffer b = std::move(*best);
      spare_frames.erase(best);
      return b;
    }
    size_t capacity = frame_bytes;
    if (frame_bytes >= kPooledFrameBytesMin && frame_bytes <= kPooledFrameBytesMax) {
      capacity =
          (frame_bytes + kPooledFrameBytesMin - 1) / kPooledFrameBytesMin * kPooledFrameBytesMin;
    }
    return FrameBuffer{std::make_unique_for_overwrite<uint8_t[]>(capacity), capacity};
  }

  // Keeps a finished request's buffer for a later one when it is worth keeping and there is room.
  void KeepFrameBuffer(FrameBuffer b) {
    if (b.capacity < kPooledFrameBytesMin || b.capacity > kPooledFrameBytesMax) return;
    if (spare_frames.size() >= kSpareFramesMax) return;
    spare_frames.push_back(std::move(b));
  }
};

struct SlotDone {
  Slot& slot;
  bool await_ready() noexcept { return slot.result.has_value(); }
  void await_suspend(std::coroutine_handle<> h) noexcept { slot.waiter = h; }
  void await_resume() noexcept {}
};

// Closes the socket once; wakes the watchdog and stops the reader and writer.
Task<void> CloseConn(std::shared_ptr<Conn> c) {
  if (c->closing) co_return;
  c->closing = true;
  c->pending.Close();
  c->closed_notify.NotifyAll();
  c->shard.fetch_waits->ConnectionClosed(c->id);  // long-polling fetches stop waiting
  Status s = co_await c->stream->Close();
  (void)s;
  c->shard.connections--;
  spdlog::debug("shard {}: connection from {} closed", c->io.shard(), c->peer.ToString());
}

Result<Response> Unsupported(const Conn& c, std::string what) {
  return Status::Unsupported(std::move(what));
}

Task<void> RunHandler(std::shared_ptr<Conn> c, std::shared_ptr<Slot> slot) {
  Result<Response> result = Status::Unsupported("not run");
  Result<protocol::RequestFrame> frame = protocol::DecodeRequestHeader(slot->frame());
  if (!frame.ok()) {
    result = frame.status();
  } else {
    slot->api_key = frame->api_key();
    slot->api_version = frame->api_version();
    Handler handler = FindHandler(frame->api_key());
    const protocol::ApiInfo& api = *frame->api;
    const bool in_range = frame->api_version() >= api.implement_min_version &&
                          frame->api_version() <= api.implement_max_version;
    if (handler == nullptr) {
      result = Unsupported(*c, fmt::format("{} is not served", api.name));
    } else if (!in_range && api.key != protocol::kApiVersionsKey) {
      result = Unsupported(
          *c, fmt::format("{} v{} is not implemented (v{}-{})", api.name, frame->api_version(),
                          api.implement_min_version, api.implement_max_version));
    } else {
      RequestContext ctx{c->io, c->node, c->shard, *frame, c->peer, c->id, slot->frame()};
      result = co_await handler(ctx);
    }
  }
  slot->result.emplace(std::move(result));
  if (slot->waiter) c->io.executor().Schedule(std::exchange(slot->waiter, {}));
}

// Returns one request's admission (connection and shard limits).
void Release(Conn& c, uint64_t frame_bytes) {
  c.requests.Release(1);
  c.bytes.Release(frame_bytes);
  c.shard.requests.Release(1);
  c.shard.request_bytes.Release(frame_bytes);
}

// Writes one response: its bytes, with each file region sent from the segment file by
// SendFile (zero-copy) at its place; then gives the regions' segment references back to the
// shards that own them.
Task<Status> SendResponse(Conn& c, Response& r) {
  Status status;
  size_t pos = 0;
  const auto bytes = std::as_bytes(std::span(r.bytes));
  for (const ResponseRegion& region : r.regions) {
    if (region.at > pos) {
      status = co_await c.stream->Send(bytes.subspan(pos, region.at - pos));
      if (!status.ok()) break;
      pos = region.at;
    }
    status = co_await c.stream->SendFile(*region.file, region.position, region.length);
    if (!status.ok()) break;
  }
  if (status.ok() && pos < bytes.size()) status = co_await c.stream->Send(bytes.subspan(pos));
  // Release every segment reference on its owner shard: the last reference closes the file,
  // which must happen on the shard whose ring opened it.
  for (ShardId owner = 0; owner < c.node.shard_count() && !r.regions.empty(); owner++) {
    std::vector<std::shared_ptr<void>> keeps;
    for (ResponseRegion& region : r.regions) {
      if (region.owner == owner && region.keep) keeps.push_back(std::move(region.keep));
    }
    if (keeps.empty()) continue;
    auto release = [&keeps](Io&) -> Task<int> {
      keeps.clear();
      co_return 0;
    };
    (void)co_await Invoke<int>(c.io.shards(), owner, release);
  }
  co_return status;
}

// Sends responses in request order and releases each request's admission.
Task<void> WriteLoop(std::shared_ptr<Conn> c) {
  while (true) {
    Result<std::shared_ptr<Slot>> next = co_await c->pending.Receive();
    if (!next.ok()) break;
    std::shared_ptr<Slot> slot = std::move(*next);
    co_await SlotDone{*slot};
    const uint64_t frame_bytes = slot->frame_bytes;
    Result<Response>& result = *slot->result;
    bool failed = false;
    if (!result.ok()) {
      spdlog::warn("shard {}: closing connection from {}: request (api {} v{}): {}", c->io.shard(),
                   c->peer.ToString(), slot->api_key, slot->api_version,
                   result.status().ToString());
      failed = true;
    } else if (result->send && !c->closing) {
      Status s = co_await SendResponse(*c, *result);
      if (!s.ok()) {
        spdlog::debug("shard {}: send to {} failed: {}", c->io.shard(), c->peer.ToString(),
                      s.ToString());
        failed = true;
      }
      c->Touch();
    }
    // The handler has finished (it set the result), so the slot is ours alone.
    if (slot.use_count() == 1) c->KeepFrameBuffer(std::move(slot->buffer));
    slot.reset();
    c->inflight--;
    Release(*c, frame_bytes);
    if (failed) {
      co_await CloseConn(c);
      break;
    }
  }
  // Requests still queued after a failure: drain so their admissions are returned.
  while (std::optional<std::shared_ptr<Slot>> slot = c->pending.TryReceive()) {
    co_await SlotDone{**slot};
    const uint64_t frame_bytes = (*slot)->frame_bytes;
    c->inflight--;
    Release(*c, frame_bytes);
  }
  co_await CloseConn(c);
  // Every handler of this connection has finished: its id need not be remembered as closed.
  c->shard.fetch_waits->ConnectionGone(c->id);
}

// Closes the connection when it has been idle (no request in flight, no bytes either way) for
// connections.max.idle.ms.
Task<void> IdleWatch(std::shared_ptr<Conn> c) {
  const Duration idle = std::chrono::milliseconds(c->node.config().connections_max_idle_ms);
  while (!c->closing) {
    Instant deadline = c->last_activity + idle;
    Instant now = c->io.clock().Now();
    if (now >= deadline) {
      if (c->inflight == 0) {
        spdlog::info("shard {}: closing idle connection from {}", c->io.shard(),
                     c->peer.ToString());
        co_await CloseConn(c);
        co_return;
      }
      c->Touch();
      continue;
    }
    co_await c->closed_notify.Wait(deadline - now);
  }
}

Task<Status> Admit(Conn& c, uint64_t frame_bytes) {
  RUNNEL_CO_TRY(co_await c.requests.Acquire(1));
  RUNNEL_CO_TRY(co_await c.bytes.Acquire(frame_bytes));
  RUNNEL_CO_TRY(co_await c.shard.requests.Acquire(1));
  RUNNEL_CO_TRY(co_await c.shard.request_bytes.Acquire(frame_bytes));
  co_return Status::Ok();
}

}  // namespace

// Small requests are read 64 KiB at a time and split by the FrameReader (several may arrive in
// one Recv). A request that is not complete in what arrived is read without a bounce buffer:
// once its size prefix is in, the request is admitted, its slot's buffer allocated at the
// frame's size, the bytes already received moved in, and the rest received straight into it.
Task<void> ServeConnection(Io& io, Node& node, std::unique_ptr<Socket> socket) {
  auto c = std::make_shared<Conn>(io, node, std::move(socket));
  c->shard.connections++;
  spdlog::debug("shard {}: connection from {}", io.shard(), c->peer.ToString());
  io.Spawn(WriteLoop(c));
  io.Spawn(IdleWatch(c));
  protocol::FrameReader frames(static_cast<size_t>(node.config().socket_request_max_bytes));
  std::vector<std::byte> buf(kRecvBytesMax);
  bool stop = false;
  while (!c->closing && !stop) {
    Result<size_t> n = co_await c->stream->Recv(buf);
    if (!n.ok() || *n == 0) {
      if (n.ok()) {
        Status tail = frames.Finish();
        if (!tail.ok()) {
          spdlog::warn("shard {}: connection from {} ended inside a request: {}", io.shard(),
                       c->peer.ToString(), tail.ToString());
        }
      }
      break;
    }
    c->Touch();
    frames.Append(std::span(reinterpret_cast<const uint8_t*>(buf.data()), *n));
    while (!c->closing) {
      Result<std::optional<std::span<const uint8_t>>> frame = frames.Next();
      if (!frame.ok()) {
        spdlog::warn("shard {}: closing connection from {}: {}", io.shard(), c->peer.ToString(),
                     frame.status().ToString());
        stop = true;
        break;
      }
      // A frame complete in the buffer (which nothing appends to while this waits for
      // admission), or the size of one that is not.
      const std::optional<size_t> partial =
          frame->has_value() ? std::nullopt : frames.partial_frame_bytes();
      if (!frame->has_value() && !partial.has_value()) break;  // under 4 bytes: read more
      const size_t frame_bytes = frame->has_value() ? (*frame)->size() : *partial;
      Status admitted = co_await Admit(*c, frame_bytes);
      if (!admitted.ok()) {
        stop = true;
        break;
      }
      auto slot = std::make_shared<Slot>(c->TakeFrameBuffer(frame_bytes), frame_bytes);
      if (frame->has_value()) {
        std::copy((*frame)->begin(), (*frame)->end(), slot->frame().begin());
      } else {
        // The rest of the frame, received straight into its slot.
        const std::span<std::byte> rest = std::as_writable_bytes(slot->frame());
        size_t have = frames.TakePartialFrame(slot->frame());
        while (have < rest.size()) {
          Result<size_t> got = co_await c->stream->Recv(rest.subspan(have));
          if (!got.ok() || *got == 0) {
            if (got.ok()) {
              spdlog::warn(
                  "shard {}: connection from {} ended inside a request: truncated frame: "
                  "stream ended after {} of {} bytes",
                  io.shard(), c->peer.ToString(), have, rest.size());
            }
            stop = true;
            break;
          }
          c->Touch();
          have += *got;
        }
        if (stop) {
          Release(*c, frame_bytes);
          break;
        }
      }
      // The channel holds as many slots as the connection admits requests, so this Send never
      // waits; it fails only when the connection is closing.
      Status queued = co_await c->pending.Send(slot);
      if (!queued.ok()) {
        Release(*c, frame_bytes);
        stop = true;
        break;
      }
      c->inflight++;
      io.Spawn(RunHandler(c, std::move(slot)));
    }
  }
  // End of input: let the writer finish what was admitted, then it closes the socket. Long
  // polls of this connection answer now rather than at their deadline (once the writer closed
  // the connection, it has said so already and forgets the id).
  if (!c->closing) c->shard.fetch_waits->ConnectionClosed(c->id);
  c->pending.Close();
}

}  // namespace runnel::broker
