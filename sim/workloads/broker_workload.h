// The "broker" workload: a whole runnel broker node (broker::RunShard on every shard, the same
// code as production) on the simulator, with Kafka clients on a second node speaking the wire
// protocol over SimNetwork. Drawn from the seed: 2-3 broker shards, a topic of 3-6 partitions
// created with CreateTopics (spread over the shards), small segments, 2-4 producers (acks=all,
// idempotent or not, every codec, Produce v3-11 or v7-11 for zstd) and 1-2 consumers (Fetch
// v4-17, half of them in fetch sessions; each pass reads every partition from offset 0 to the
// high watermark).
//
// Faults (FaultSchedule): the broker node crashes (SimDisk drops or tears unsynced writes) or
// its process exits, and restarts; disk EIO (reads, writes and fsyncs, which lose the file's
// unsynced writes) and ENOSPC bursts on it; network resets, partitions
// and latency between the client node and the broker; clock skew and pauses. Bit rot and latent
// sector errors are left out: a single node with one copy cannot survive losing synced bytes
// (that is replication's job), so they would only report the obvious. The client node is never
// crashed: its producers' knowledge (what was sent, what was acknowledged) is the model.
//
// Checked on every run by sim/checkers/kafka_log_checker.h: no acknowledged record lost, none
// invented or altered (fetched bytes equal produced bytes), offsets dense per partition, a
// fetched offset's record never changes, duplicates only where the producer may have appended
// twice, high watermarks never go back and cover what was acknowledged. Liveness: after the
// quiet point every producer gets its last records acknowledged and every consumer reads up
// to the high watermark. Finally the broker loses power once more and a reader checks every
// partition from offset 0 to the end.
#pragma once

#include <cstdint>
#include <memory>

#include "sim/workload.h"

namespace runnel::sim {

std::unique_ptr<Workload> MakeBrokerWorkload(uint64_t seed);

}  // namespace runnel::sim
