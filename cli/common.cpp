#include "cli/common.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "core/backend.h"
#include "core/drafter_model.h"
#include "kernels/cpu/cpu_backend.h"
#if defined(SPECBATCH_HAVE_CUDA)
#include "kernels/cuda/device_probe.h"
#endif

namespace sb::cli {

void print_error(std::string_view message) {
  std::string line = "specbatch: error: ";
  line.append(message);
  line.push_back('\n');
  (void)write_all(STDERR_FILENO, line, "stderr");
}

void print_note(std::string_view message) {
  std::string line = "specbatch: ";
  line.append(message);
  line.push_back('\n');
  (void)write_all(STDERR_FILENO, line, "stderr");
}

Status write_all(int fd, std::string_view bytes, const std::string& what) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("cannot write " + what);
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return ok_status();
}

StatusOr<std::string> read_all(int fd, const std::string& what) {
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("cannot read " + what);
    }
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

StatusOr<LoadedModel> load_for_generation(const std::string& model_path, const std::string& draft,
                                          const std::string& device, int n_threads) {
  LoadedModel loaded;
  SB_ASSIGN_OR_RETURN(loaded.backend, make_backend(device, n_threads));
  SB_ASSIGN_OR_RETURN(loaded.model, load_model(model_path));
  SB_ASSIGN_OR_RETURN(loaded.tokenizer, Tokenizer::load(model_path));
  if (draft_needs_model(draft)) {
    SB_ASSIGN_OR_RETURN(loaded.draft_model, load_draft_model(draft, loaded.model, *loaded.tokenizer));
  }
  return loaded;
}

StatusOr<std::unique_ptr<Backend>> make_backend(const std::string& device, int n_threads) {
  if (device == "cpu") {
    std::unique_ptr<Backend> backend = make_cpu_backend(n_threads);
    if (backend == nullptr) return internal_error("cannot create the CPU backend");
    return backend;
  }
  if (device != "cuda") return invalid_argument("--device must be cpu or cuda, got '" + device + "'");
#if defined(SPECBATCH_HAVE_CUDA)
  const cuda::DeviceCount count = cuda::cuda_device_count();
  if (!count.error.empty()) return internal_error("--device cuda: " + count.error);
  if (count.count == 0) return not_found("--device cuda: no CUDA device found; use --device cpu");
  const std::string smoke = cuda::cuda_smoke_test(0);
  if (!smoke.empty()) return internal_error("--device cuda: device 0 failed its smoke test: " + smoke);
  return unsupported("--device cuda: found " + std::to_string(count.count) + " device(s) (" +
                     cuda::cuda_device_name(0) +
                     "; kernel and cuBLAS smoke test passed), but the CUDA inference backend is not "
                     "implemented yet; use --device cpu");
#else
  return unsupported("--device cuda: this specbatch was built without CUDA (nvcc not found at build time); "
                     "rebuild with nvcc on PATH or at /usr/local/cuda/bin/nvcc, or use --device cpu");
#endif
}

std::string version_string() {
  std::string v = "specbatch " SPECBATCH_VERSION;
#if defined(SPECBATCH_HAVE_CUDA)
  v += " (CUDA: built)";
#else
  v += " (CUDA: not built)";
#endif
  return v;
}

}  // namespace sb::cli
