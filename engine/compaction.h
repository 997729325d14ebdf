// Compaction (cleanup.policy=compact, or compact,delete): Log::Compact (declared in log.h,
// implemented in compaction.cc). One pass:
//
// 0. Cleanable: the closed segments wholly below the high watermark (truncation, which happens
//    only above it, then never removes a record that made an older one obsolete) and below the
//    recovery point (synced: a crash never loses such a record either).
// 1. Key map: the cleanable segments are read oldest first (every batch CRC-checked) and each
//    key's latest offset is recorded, until compaction_keys_max keys are mapped; the pass then
//    cleans only the segments read whole before that point. Control batches are not mapped.
// 2. Groups: consecutive cleanable segments are grouped so that a group fits one segment
//    (segment.bytes, offsets within base + INT32_MAX); each group becomes one cleaned segment
//    named by the group's first base offset.
// 3. Cleaning, per batch: control batches stay as they are. A record stays if its key's latest
//    offset is its own; records without a key go (they cannot be compacted; appends to a
//    compacted topic reject them). A tombstone (null value) stays until the batch's delete
//    horizon passes: the first pass that keeps a tombstone sets the horizon to now +
//    delete.retention.ms (KIP-534, hasDeleteHorizonMs), a later pass after it drops the
//    tombstone. A batch that keeps everything and needs no horizon is copied byte for byte;
//    otherwise it is rebuilt (same codec, base offset, lastOffsetDelta, producer fields, leader
//    epoch, timestamps): offsets never change. A batch left with no records is dropped, unless it
//    is its producer's last batch in the cleanable segments, which stays as an empty batch so the
//    producer's state survives a replay (only durable batches count: a later, unsynced one may
//    not survive a crash). The active segment is never read or written.
// 4. Swap, crash-safely: the cleaned .log/.index/.timeindex are written as "*.cleaned" and
//    synced; partition.meta raises the compacted end (gaps below it are legal for recovery);
//    "<base>.log.cleaned" is renamed to "<base>.log.swap" and the directory synced — the commit
//    point; the old segments are removed; the cleaned index files and then the log are renamed
//    to their final names; the directory is synced. Recovery deletes *.cleaned and completes a
//    *.log.swap (log_recovery.h, rule 2). If a truncation or retention changed the group's
//    segments meanwhile, the group is abandoned and its output removed.
//
// Transactions: aborted transactions are not removed (there is no transaction index yet);
// transactional data records are compacted like any other and control batches are kept.
#pragma once

#include "engine/log.h"
