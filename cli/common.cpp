#include "cli/common.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <thread>

#include "core/backend.h"
#include "core/spec/model_drafter.h"
#include "kernels/cpu/cpu_backend.h"
#if defined(SPECBATCH_HAVE_CUDA)
#include "kernels/cuda/cuda_backend.h"
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

Status check_output_directory(const std::string& path, std::string_view flag) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  const std::string what = std::string(flag) + " " + path;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) return ok_status();  // a device or FIFO
  if (::stat(dir.c_str(), &st) != 0) return errno_error(what + ": its directory " + dir + " cannot be used");
  if (!S_ISDIR(st.st_mode)) return not_found(what + ": " + dir + " is not a directory");
  if (::access(dir.c_str(), W_OK | X_OK) != 0) return errno_error(what + ": cannot write in the directory " + dir);
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

StatusOr<LoadedModel> load_for_generation(const std::string& model_path, const DraftSpec& draft,
                                          const DeviceChoice& choice) {
  LoadedModel loaded;
  SB_ASSIGN_OR_RETURN(loaded.backends, make_backends(choice));
  SB_ASSIGN_OR_RETURN(loaded.model, load_model(model_path));
  SB_ASSIGN_OR_RETURN(loaded.tokenizer, Tokenizer::load(model_path));
  if (draft.needs_model()) {
    auto draft_model = load_draft_model(draft, loaded.model, *loaded.tokenizer);
    // A draft PATH that cannot be used: say it is the draft, not the model, that is wrong.
    if (!draft_model.ok() && draft.kind == DraftSpec::Kind::kModel)
      return draft_model.status().with_context("--draft");
    SB_ASSIGN_OR_RETURN(loaded.draft_model, std::move(draft_model));
  }
  return loaded;
}

StatusOr<DeviceChoice> parse_device(const std::string& device, const std::string& dtype, int threads,
                                    int replicas) {
  DeviceChoice c;
  c.threads = threads;
  c.cpu_replicas = replicas;
  if (dtype == "auto") {
    c.weights = DeviceChoice::Weights::kAuto;
  } else if (dtype == "f32") {
    c.weights = DeviceChoice::Weights::kF32;
  } else if (dtype == "bf16") {
    c.weights = DeviceChoice::Weights::kBF16;
  } else {
    return invalid_argument("--dtype must be auto, f32 or bf16, got '" + dtype + "'");
  }
  if (replicas < 1) return invalid_argument("--replicas must be at least 1, got " + std::to_string(replicas));
  const std::string syntax = "--device must be cpu, cuda, cuda:N[,M...] or cuda:all, got '" + device + "'";
  if (device == "cpu") {
    if (c.weights == DeviceChoice::Weights::kBF16)
      return invalid_argument("--dtype bf16 needs --device cuda: the CPU backend computes in F32");
    if (threads > 0 && threads < replicas)
      return invalid_argument("--threads " + std::to_string(threads) + " cannot give each of --replicas " +
                              std::to_string(replicas) + " a thread");
    return c;
  }
  if (device.rfind("cuda", 0) != 0) return invalid_argument(syntax);
  if (replicas != 1)
    return invalid_argument("--replicas is for --device cpu; on GPUs list the devices, one replica each: "
                            "--device cuda:0,1 or cuda:all");
  c.cuda = true;
  const std::string rest = device.substr(4);
  if (rest.empty()) {
    c.cuda_devices = {0};
    return c;
  }
  if (rest == ":all") return c;
  if (rest[0] != ':' || rest.size() == 1) return invalid_argument(syntax);
  size_t i = 1;
  while (i <= rest.size()) {
    const size_t comma = std::min(rest.find(',', i), rest.size());
    const std::string id = rest.substr(i, comma - i);
    if (id.empty() || id.size() > 4 || id.find_first_not_of("0123456789") != std::string::npos)
      return invalid_argument(syntax);
    const int n = std::stoi(id);
    if (std::find(c.cuda_devices.begin(), c.cuda_devices.end(), n) != c.cuda_devices.end())
      return invalid_argument("--device lists cuda:" + id + " twice");
    c.cuda_devices.push_back(n);
    i = comma + 1;
  }
  return c;
}

int DeviceChoice::replica_threads(int i) const {
  if (cpu_replicas == 1) return threads;
  const int all = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, all / cpu_replicas + (i < all % cpu_replicas ? 1 : 0));
}

namespace {

#if defined(SPECBATCH_HAVE_CUDA)
// One CUDA backend per listed device (every device for cuda:all).
StatusOr<std::vector<std::unique_ptr<Backend>>> make_cuda_backends(const DeviceChoice& choice) {
  const cuda::DeviceCount count = cuda::cuda_device_count();
  if (!count.error.empty()) return internal_error("--device cuda: " + count.error);
  if (count.count == 0) return not_found("--device cuda: no CUDA device found; use --device cpu");
  std::vector<int> devices = choice.cuda_devices;
  if (devices.empty())
    for (int d = 0; d < count.count; ++d) devices.push_back(d);
  for (int d : devices)
    if (d >= count.count)
      return not_found("--device cuda:" + std::to_string(d) + ": no such device (found " +
                       std::to_string(count.count) + ")");
  CudaBackendOptions options;
  options.weights = choice.weights == DeviceChoice::Weights::kBF16  ? CudaBackendOptions::Weights::kBF16
                    : choice.weights == DeviceChoice::Weights::kF32 ? CudaBackendOptions::Weights::kF32
                                                                    : CudaBackendOptions::Weights::kAuto;
  std::vector<std::unique_ptr<Backend>> backends;
  for (int d : devices) {
    options.device = d;
    auto backend = make_cuda_backend(options);
    if (!backend.ok()) return backend.status().with_context("--device cuda:" + std::to_string(d));
    backends.push_back(std::move(backend).value());
  }
  return backends;
}
#endif

}  // namespace

StatusOr<std::vector<std::unique_ptr<Backend>>> make_backends(const DeviceChoice& choice) {
  std::vector<std::unique_ptr<Backend>> backends;
  if (!choice.cuda) {
    SB_ASSIGN_OR_RETURN(const cpu::CpuIsa isa, cpu_isa_from_env());
    for (int i = 0; i < choice.cpu_replicas; ++i) {
      backends.push_back(make_cpu_backend(choice.replica_threads(i), isa));
      if (backends.back() == nullptr) return internal_error("cannot create the CPU backend");
    }
    return backends;
  }
#if defined(SPECBATCH_HAVE_CUDA)
  return make_cuda_backends(choice);
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
