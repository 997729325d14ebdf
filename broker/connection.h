// Connection: one client TCP connection on one shard. Serve reads size-prefixed request frames
// (FrameReader, socket.request.max.bytes), admits each under the connection's and the shard's
// in-flight limits (requests and bytes; Semaphores, so a client that pipelines faster than the
// broker answers stops being read — back-pressure, never an unbounded queue), runs its handler
// as its own task, and a writer task sends the responses strictly in request order.
//
// A request that cannot be decoded, names an unknown API or a version this broker does not
// implement makes the writer send the responses before it and close the connection; the failure
// is logged with the peer. Nothing else is affected. A connection with no request in flight and
// no traffic for connections.max.idle.ms is closed.
//
// Lifetime: the state is shared (shared_ptr) by the reader, the writer, the idle watchdog and
// the handler tasks; the socket is closed once, by whoever sees the end first.
#pragma once

#include <memory>

#include "broker/node.h"
#include "io/io.h"

namespace runnel::broker {

// Serves `socket` until it closes. Runs on the shard that accepted it.
Task<void> ServeConnection(Io& io, Node& node, std::unique_ptr<Socket> socket);

}  // namespace runnel::broker
