// The "group" workload: consumer groups on a runnel broker node (broker::RunShard on every shard,
// the same code as production) under faults, with simulated consumers on a client node speaking
// the classic group protocol over SimNetwork with the generated codecs.
//
// Drawn from the seed: 2-3 broker shards, __consumer_offsets with 2-6 partitions (so several
// shards coordinate groups), group.initial.rebalance.delay.ms 0-3000, a topic of 3-8 partitions
// that a producer (acks=all) keeps filling, and 1-2 groups of 2-5 members, some of them static
// (group.instance.id), each with its own session (6-10 s) and rebalance (8-12 s) timeout, its
// own JoinGroup version (v0-9; v4+ gets MEMBER_ID_REQUIRED first) and a range or round-robin
// group. A member: FindCoordinator, JoinGroup, SyncGroup (the leader computes the assignment
// and encodes it as ConsumerProtocolAssignment), OffsetFetch of its partitions, then Fetch from
// its positions, Heartbeat every session/3 and OffsetCommit of its positions every 0.2-1.5 s;
// REBALANCE_IN_PROGRESS commits and rejoins (eager), UNKNOWN_MEMBER_ID and FENCED_INSTANCE_ID
// rejoin without an id. While the faults last a group sees a member fault every 3-12 s: a crash
// (drops its connection without leaving, comes back as a new process 0.2-5 s later), a pause longer
// than its session timeout (then it carries on as a zombie: commits, heartbeats), a leave
// (LeaveGroup, rejoins later) or a reset of a partition's offset (a lower one, on purpose).
//
// Faults (FaultSchedule): the broker crashes or exits and restarts, disk EIO/ENOSPC bursts,
// network resets, partitions and latency, clock skew, pauses. The client node is never crashed.
// Bit rot and latent sector errors are left out (one copy of the data, as in the broker
// workload); failed fsyncs are in (the broker fences the log and reopens it).
//
// Checked (sim/checkers/group_checker.h): committed offsets never go back (unless reset) and
// never exceed the high watermark; at most one owner per partition per generation. Liveness:
// after the quiet point every member reaches Stable (a SyncGroup answer for the group's final
// generation, then a successful heartbeat) within kStableBound, and every partition's committed
// offset reaches the end the producer was acknowledged. Finally the broker loses power once
// more and every committed offset is read back against the acknowledged ones.
#pragma once

#include <cstdint>
#include <memory>

#include "sim/workload.h"

namespace runnel::sim {

std::unique_ptr<Workload> MakeGroupWorkload(uint64_t seed);

}  // namespace runnel::sim
