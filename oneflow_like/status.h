// Status and StatusOr: how every layer reports bad input without crashing.
//
// Contract: a function that can fail on user input returns Status or
// StatusOr<T>. Messages begin with the op or component in brackets and say
// what was expected and what was found, e.g.
//   "[matmul] a.shape[1]=3 must equal b.shape[0]=4".
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace ofl {

/// Outcome of an operation: ok, or an error with a human-readable message.
class [[nodiscard]] Status {
 public:
  Status() = default;
  /// The successful status.
  static Status Ok() { return Status(); }
  /// A failure carrying `message`.
  static Status Error(std::string message) {
    Status status;
    status.ok_ = false;
    status.message_ = std::move(message);
    return status;
  }

  bool ok() const { return ok_; }
  const std::string& message() const { return message_; }
  /// Prefixes the message with context (e.g. the node that failed).
  Status WithContext(const std::string& context) const {
    if (ok_) return *this;
    return Error(context + ": " + message_);
  }

 private:
  bool ok_ = true;
  std::string message_;
};

/// Thrown only where an API cannot return Status (constructors, operators);
/// carries the same message a Status would.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A value or the error that prevented computing it.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : state_(std::move(value)) {}  // NOLINT: implicit by design
  StatusOr(Status status) : state_(std::move(status)) {  // NOLINT
    if (std::get<Status>(state_).ok()) {
      state_ = Status::Error("internal: StatusOr built from an ok Status without a value");
    }
  }

  bool ok() const { return std::holds_alternative<T>(state_); }
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T& value() & { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  /// The value, or throws ofl::Error with the status message.
  T ValueOrThrow() && {
    if (!ok()) throw Error(std::get<Status>(state_).message());
    return std::get<T>(std::move(state_));
  }

 private:
  std::variant<T, Status> state_;
};

/// Streams a message into an error Status: `return ErrorBuilder() << "...";`.
class ErrorBuilder {
 public:
  template <typename V>
  ErrorBuilder& operator<<(const V& value) {
    stream_ << value;
    return *this;
  }
  operator Status() const { return Status::Error(stream_.str()); }  // NOLINT
  template <typename T>
  operator StatusOr<T>() const {  // NOLINT
    return StatusOr<T>(Status::Error(stream_.str()));
  }

 private:
  std::ostringstream stream_;
};

/// Throws ofl::Error if `status` is an error; for API boundaries that throw.
inline void ThrowIfError(const Status& status) {
  if (!status.ok()) throw Error(status.message());
}

}  // namespace ofl

#define OFL_CONCAT_INNER(a, b) a##b
#define OFL_CONCAT(a, b) OFL_CONCAT_INNER(a, b)

/// Returns the Status of `expr` from the enclosing function if it is an error.
#define OFL_RETURN_IF_ERROR(expr)                 \
  do {                                            \
    ::ofl::Status ofl_status_ = (expr);           \
    if (!ofl_status_.ok()) return ofl_status_;    \
  } while (false)

#define OFL_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()

/// `OFL_ASSIGN_OR_RETURN(auto x, F());` binds the value or returns the error.
#define OFL_ASSIGN_OR_RETURN(lhs, expr) \
  OFL_ASSIGN_OR_RETURN_IMPL(OFL_CONCAT(ofl_statusor_, __LINE__), lhs, expr)

/// `OFL_CHECK_OR_RETURN(cond) << "message";` returns an error when !cond.
#define OFL_CHECK_OR_RETURN(cond) \
  if (cond) {                     \
  } else                          \
    return ::ofl::ErrorBuilder()
