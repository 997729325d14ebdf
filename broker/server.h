// The per-shard server: what every shard of a runnel process runs. Shard 0 (the controller
// shard) first loads the metadata from the data dir; every shard then listens on the configured
// address with SO_REUSEPORT (the kernel spreads connections over the shards) and serves each
// accepted connection on itself (connection.h). A listen or load failure stops the node
// (Node::Fail) so the process exits non-zero.
//
// The controller shard binds first and the other shards after it; with port 0 the port it got
// becomes the node's listen (and, without --advertise, advertised) port, which they bind too.
#pragma once

#include "broker/node.h"
#include "io/io.h"

namespace runnel::broker {

Task<void> RunShard(Io& io, Node& node);

}  // namespace runnel::broker
