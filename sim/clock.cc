#include "sim/clock.h"

#include "io/assert.h"
#include "sim/node.h"
#include "sim/world.h"

namespace runnel::sim {
namespace {

constexpr int64_t kPpm = 1'000'000;

}  // namespace

NodeClock::NodeClock(int64_t mono_origin_ns, int64_t wall_minus_mono_ns)
    : anchor_world_ns_(0),
      anchor_mono_ns_(mono_origin_ns),
      wall_minus_mono_ns_(wall_minus_mono_ns) {}

int64_t NodeClock::Mono(int64_t world_ns) const {
  const __int128 elapsed = static_cast<__int128>(world_ns) - anchor_world_ns_;
  // Truncation keeps mono non-decreasing: each world nanosecond adds 1 + (a step of at most -1).
  const __int128 scaled = elapsed + elapsed * drift_ppm_ / kPpm;
  return static_cast<int64_t>(anchor_mono_ns_ + scaled);
}

int64_t NodeClock::WorldWhen(int64_t mono_ns, int64_t now_world_ns) const {
  if (Mono(now_world_ns) >= mono_ns) return now_world_ns;
  const __int128 local = static_cast<__int128>(mono_ns) - anchor_mono_ns_;
  __int128 world = anchor_world_ns_ + local * kPpm / (kPpm + drift_ppm_);
  if (world >= kNeverNs) return kNeverNs;
  int64_t t = static_cast<int64_t>(world);
  if (t < now_world_ns) t = now_world_ns;
  // The division rounds; step forward to the first world time that reaches the deadline.
  while (Mono(t) < mono_ns) t++;
  return t;
}

void NodeClock::SetDrift(int64_t ppm, int64_t now_world_ns) {
  RUNNEL_ASSERT(ppm > -100'000 && ppm < 100'000, "clock drift {} ppm out of range", ppm);
  anchor_mono_ns_ = Mono(now_world_ns);
  anchor_world_ns_ = now_world_ns;
  drift_ppm_ = ppm;
}

void NodeClock::SetWallOffset(int64_t offset_ns, int64_t now_world_ns) {
  wall_minus_mono_ns_ = kWallEpochNs + now_world_ns + offset_ns - Mono(now_world_ns);
}

void NodeClock::Reboot(int64_t mono_origin_ns, int64_t now_world_ns) {
  const int64_t wall = Wall(now_world_ns);
  anchor_world_ns_ = now_world_ns;
  anchor_mono_ns_ = mono_origin_ns;
  wall_minus_mono_ns_ = wall - mono_origin_ns;
}

Instant SimClock::Now() { return node_.MonoNow(); }

WallTime SimClock::Wall() { return node_.WallNow(); }

TimerId SimClock::StartTimer(Instant deadline, std::function<void()> fire) {
  const TimerId id = ++node_.next_timer_;
  // A destructor running while the node goes down may arm a timer: it never fires.
  if (!node_.up()) return id;
  Arm(id, deadline.since_origin.count(), std::move(fire));
  return id;
}

void SimClock::Arm(TimerId id, int64_t deadline_mono_ns, std::function<void()> fire) {
  SimWorld& world = node_.world();
  const int64_t at = node_.clock().WorldWhen(deadline_mono_ns, world.now_ns());
  SimNode* node = &node_;
  SimClock* self = this;
  SimWorld::EventKey key =
      world.ScheduleAt(at, node_.id(), shard_, EventKind::kTimer, id,
                       [node, self, id, deadline_mono_ns, fire = std::move(fire)]() mutable {
                         node->timers_.erase(id);
                         // A drift change since the timer was armed can make it come due early:
                         // re-arm.
                         if (node->clock().Mono(node->world().now_ns()) < deadline_mono_ns) {
                           self->Arm(id, deadline_mono_ns, std::move(fire));
                           return;
                         }
                         fire();
                       });
  if (key.seq != 0) node_.timers_[id] = key;
}

bool SimClock::CancelTimer(TimerId id) {
  auto it = node_.timers_.find(id);
  if (it == node_.timers_.end()) return false;
  const bool pending = node_.world().Cancel(it->second);
  node_.timers_.erase(it);
  return pending;
}

}  // namespace runnel::sim
