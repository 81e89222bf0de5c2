// Status and StatusOr<T>: how every recoverable failure travels (I/O, malformed
// input, bad config, unsupported dtype). Messages say what, where and what to do.
// Broken invariants use SB_CHECK, which stays on in release builds.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace sb {

enum class StatusCode {
  kOk,
  kInvalidArgument,  // the caller asked for something that cannot be done
  kNotFound,         // a file, tensor, key or token does not exist
  kIoError,          // the operating system refused (open, read, write, mmap)
  kCorrupt,          // a file's bytes contradict its own format
  kUnsupported,      // valid, but not something specbatch implements
  kOutOfRange,       // a request exceeds a configured limit (context length, KV cache size)
  kInternal,         // a library or device reported a failure
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return Status(); }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "corrupt: model.gguf: tensor 'x' ..." for logs; message() alone for users.
  std::string to_string() const;
  // Returns a copy whose message is prefixed with `context: `.
  Status with_context(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status ok_status() { return Status(); }
inline Status invalid_argument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status not_found(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status io_error(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
inline Status corrupt(std::string m) { return {StatusCode::kCorrupt, std::move(m)}; }
inline Status unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
inline Status out_of_range(std::string m) { return {StatusCode::kOutOfRange, std::move(m)}; }
inline Status internal_error(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
// An io_error whose message ends with strerror(errno).
Status errno_error(const std::string& what);

template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(Status status) : v_(std::move(status)) { check_not_ok(); }  // NOLINT: implicit by design
  StatusOr(T value) : v_(std::move(value)) {}                          // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  void check_not_ok() const;
  std::variant<Status, T> v_;
};

[[noreturn]] void check_failed(const char* expr, const char* file, int line, const std::string& msg);

template <typename T>
void StatusOr<T>::check_not_ok() const {
  if (std::get<Status>(v_).ok()) check_failed("!status.ok()", __FILE__, __LINE__, "StatusOr built from an ok Status");
}

}  // namespace sb

// Invariant checks: always on, print expression, file and line, then abort.
#define SB_CHECK(cond)                                                     \
  do {                                                                     \
    if (!(cond)) ::sb::check_failed(#cond, __FILE__, __LINE__, "");        \
  } while (0)
#define SB_CHECK_MSG(cond, msg)                                            \
  do {                                                                     \
    if (!(cond)) ::sb::check_failed(#cond, __FILE__, __LINE__, (msg));     \
  } while (0)

#define SB_CONCAT_INNER(a, b) a##b
#define SB_CONCAT(a, b) SB_CONCAT_INNER(a, b)

#define SB_RETURN_IF_ERROR(expr)                       \
  do {                                                 \
    ::sb::Status sb_status_ = (expr);                  \
    if (!sb_status_.ok()) return sb_status_;           \
  } while (0)

#define SB_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr)       \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return tmp.status();                  \
  lhs = std::move(tmp).value()

// SB_ASSIGN_OR_RETURN(auto x, f()); declares x or returns f()'s error.
#define SB_ASSIGN_OR_RETURN(lhs, expr) \
  SB_ASSIGN_OR_RETURN_IMPL(SB_CONCAT(sb_statusor_, __LINE__), lhs, expr)
