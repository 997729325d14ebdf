#include "io/status.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace runnel {

std::string_view ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kOk:
      return "ok";
    case ErrorKind::kIo:
      return "io";
    case ErrorKind::kCorruption:
      return "corruption";
    case ErrorKind::kNotFound:
      return "not-found";
    case ErrorKind::kAlreadyExists:
      return "already-exists";
    case ErrorKind::kInvalidArgument:
      return "invalid-argument";
    case ErrorKind::kTimeout:
      return "timeout";
    case ErrorKind::kNoSpace:
      return "no-space";
    case ErrorKind::kClosed:
      return "closed";
    case ErrorKind::kCancelled:
      return "cancelled";
    case ErrorKind::kUnsupported:
      return "unsupported";
    case ErrorKind::kLimit:
      return "limit";
    case ErrorKind::kRefused:
      return "refused";
  }
  return "unknown";
}

Status::Status(ErrorKind kind, std::string message) {
  RUNNEL_ASSERT(kind != ErrorKind::kOk, "an error Status needs an error kind");
  state_ = std::make_unique<State>(State{kind, std::move(message)});
}

const std::string& Status::message() const {
  static const std::string kEmpty;
  return state_ ? state_->message : kEmpty;
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return fmt::format("{}: {}", ErrorKindName(state_->kind), state_->message);
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return Status();
  return Status(state_->kind, fmt::format("{}: {}", context, state_->message));
}

Status Status::FromErrno(int err, std::string_view what) {
  std::string msg = fmt::format("{}: {}", what, std::strerror(err));
  switch (err) {
    case ENOENT:
      return NotFound(std::move(msg));
    case EEXIST:
      return AlreadyExists(std::move(msg));
    case ENOSPC:
    case EDQUOT:
      return NoSpace(std::move(msg));
    case EINVAL:
    case ENAMETOOLONG:
    case ENOTDIR:
    case EISDIR:
      return InvalidArgument(std::move(msg));
    case ETIMEDOUT:
      return Timeout(std::move(msg));
    case ECONNRESET:
    case EPIPE:
    case ENOTCONN:
    case ESHUTDOWN:
      return Closed(std::move(msg));
    case ECONNREFUSED:
    case EHOSTUNREACH:
    case ENETUNREACH:
      return Refused(std::move(msg));
    case ECANCELED:
      return Cancelled(std::move(msg));
    case EMFILE:
    case ENFILE:
    case ENOMEM:
    case ENOBUFS:
      return Limit(std::move(msg));
    case EOPNOTSUPP:
      return Unsupported(std::move(msg));
    default:
      return Io(std::move(msg));
  }
}

[[noreturn]] void AssertFail(const char* cond, const char* file, int line, const std::string& msg) {
  std::fprintf(stderr, "RUNNEL_ASSERT failed: %s at %s:%d%s%s\n", cond, file, line,
               msg.empty() ? "" : ": ", msg.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace runnel
