// Retention (cleanup.policy=delete, or compact,delete) and DeleteRecords: Log::ApplyRetention,
// Log::DeleteRecords (declared in log.h, implemented in retention.cc).
//
// Rules:
// - Only whole closed segments are deleted, oldest first, and only while the next one is
//   deletable too; a segment is deletable when the segment after it starts at or below the high
//   watermark (nothing unreplicated goes) and it is expired (its newest timestamp is older than
//   now - retention.ms; a segment of records without timestamps counts as expired) or the log
//   without it is still at least retention.bytes large.
// - An active segment that has expired is rolled first, so that it can go too (as Kafka does).
// - The new log start offset is the first remaining segment's base. It is written to
//   partition.meta (durably) before any file is removed: a crash between the two leaves files
//   that recovery deletes (rule 4 of log_recovery.h).
// - DeleteRecords(offset) moves the log start to `offset` (<= high watermark) the same way and
//   deletes the segments wholly below it; the segment holding the new start stays, and reads
//   below the start are out of range.
#pragma once

#include "engine/log.h"
