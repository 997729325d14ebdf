// Status and Result<T>: how operating errors (disk, network, bad input) cross module
// boundaries. No exceptions cross io/, engine/ or broker/ boundaries.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "io/assert.h"

namespace runnel {

// The kind of an error. Add a kind only when some caller reacts to it differently.
enum class ErrorKind : uint8_t {
  kOk = 0,
  kIo,               // the device or OS failed an operation (EIO, EBADF, ...)
  kCorruption,       // stored or received bytes fail validation (CRC, framing)
  kNotFound,         // file, directory, topic ... does not exist
  kAlreadyExists,    // exclusive create of something that exists
  kInvalidArgument,  // the caller passed something malformed
  kTimeout,          // a deadline passed
  kNoSpace,          // ENOSPC
  kClosed,           // the peer or the object was closed / reset
  kCancelled,        // the operation was abandoned (shutdown, crash)
  kUnsupported,      // valid, but not something this build or version does
  kLimit,            // a named _max was reached
  kRefused,          // connection refused / unreachable
};

std::string_view ErrorKindName(ErrorKind kind);

// Status: ok, or an error kind with a message. Cheap to pass when ok (one pointer).
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorKind kind, std::string message);

  static Status Ok() { return Status(); }
  static Status Io(std::string m) { return {ErrorKind::kIo, std::move(m)}; }
  static Status Corruption(std::string m) { return {ErrorKind::kCorruption, std::move(m)}; }
  static Status NotFound(std::string m) { return {ErrorKind::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {ErrorKind::kAlreadyExists, std::move(m)}; }
  static Status InvalidArgument(std::string m) {
    return {ErrorKind::kInvalidArgument, std::move(m)};
  }
  static Status Timeout(std::string m) { return {ErrorKind::kTimeout, std::move(m)}; }
  static Status NoSpace(std::string m) { return {ErrorKind::kNoSpace, std::move(m)}; }
  static Status Closed(std::string m) { return {ErrorKind::kClosed, std::move(m)}; }
  static Status Cancelled(std::string m) { return {ErrorKind::kCancelled, std::move(m)}; }
  static Status Unsupported(std::string m) { return {ErrorKind::kUnsupported, std::move(m)}; }
  static Status Limit(std::string m) { return {ErrorKind::kLimit, std::move(m)}; }
  static Status Refused(std::string m) { return {ErrorKind::kRefused, std::move(m)}; }
  // Maps an errno value to a kind; `what` says which operation failed on what.
  static Status FromErrno(int err, std::string_view what);

  Status(const Status& other)
      : state_(other.state_ ? std::make_unique<State>(*other.state_) : nullptr) {}
  Status& operator=(const Status& other) {
    state_ = other.state_ ? std::make_unique<State>(*other.state_) : nullptr;
    return *this;
  }
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  bool ok() const { return state_ == nullptr; }
  ErrorKind kind() const { return state_ ? state_->kind : ErrorKind::kOk; }
  const std::string& message() const;
  bool Is(ErrorKind k) const { return kind() == k; }
  // "kind: message", or "ok".
  std::string ToString() const;

  // Returns a copy whose message is prefixed with `context: `.
  Status WithContext(std::string_view context) const;

  bool operator==(const Status& o) const { return kind() == o.kind() && message() == o.message(); }

 private:
  struct State {
    ErrorKind kind;
    std::string message;
  };
  std::unique_ptr<State> state_;
};

// Result<T>: a value or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<std::decay_t<T>, Status>, "Result<Status> makes no sense");

 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}        // NOLINT: implicit
  Result(Status status) : v_(std::in_place_index<1>, std::move(status)) {  // NOLINT: implicit
    RUNNEL_ASSERT(!std::get<1>(v_).ok(), "Result constructed from an ok Status");
  }

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  const Status& status() const& {
    static const Status kOk;
    return ok() ? kOk : std::get<1>(v_);
  }
  Status status() && { return ok() ? Status() : std::move(std::get<1>(v_)); }

  T& value() & {
    RUNNEL_ASSERT(ok(), "value() on error: {}", std::get<1>(v_).ToString());
    return std::get<0>(v_);
  }
  const T& value() const& {
    RUNNEL_ASSERT(ok(), "value() on error: {}", std::get<1>(v_).ToString());
    return std::get<0>(v_);
  }
  T&& value() && {
    RUNNEL_ASSERT(ok(), "value() on error: {}", std::get<1>(v_).ToString());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace runnel

#define RUNNEL_CONCAT_INNER(a, b) a##b
#define RUNNEL_CONCAT(a, b) RUNNEL_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function when `expr` (a Status) is not ok.
#define RUNNEL_TRY(expr)                                     \
  do {                                                       \
    ::runnel::Status runnel_try_status_ = (expr);            \
    if (!runnel_try_status_.ok()) return runnel_try_status_; \
  } while (0)

// Evaluates `expr` (a Result<T>); on error returns its Status, else moves the value into `lhs`.
#define RUNNEL_ASSIGN_OR_RETURN(lhs, expr) \
  RUNNEL_ASSIGN_OR_RETURN_IMPL(RUNNEL_CONCAT(runnel_result_, __LINE__), lhs, expr, return )

// The coroutine forms: `expr` is usually `co_await something`.
#define RUNNEL_CO_TRY(expr)                                     \
  do {                                                          \
    ::runnel::Status runnel_try_status_ = (expr);               \
    if (!runnel_try_status_.ok()) co_return runnel_try_status_; \
  } while (0)

#define RUNNEL_CO_ASSIGN_OR_RETURN(lhs, expr) \
  RUNNEL_ASSIGN_OR_RETURN_IMPL(RUNNEL_CONCAT(runnel_result_, __LINE__), lhs, expr, co_return )

#define RUNNEL_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr, ret) \
  auto tmp = (expr);                                      \
  if (!tmp.ok()) ret std::move(tmp).status();             \
  lhs = std::move(tmp).value()
