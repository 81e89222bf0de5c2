// Pieces shared by the subcommands: exit codes, error printing, whole-line
// writes and the --device choice. Only cli/ picks exit codes and prints usage.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/status.h"
#include "core/model/model.h"
#include "core/spec/draft_spec.h"
#include "core/tokenizer/tokenizer.h"

namespace sb {
class Backend;
}

namespace sb::cli {

// Exit status of every subcommand (documented in man/specbatch.1, EXIT STATUS).
constexpr int kExitOk = 0;          // everything succeeded
constexpr int kExitFatal = 1;       // the run could not go on (model, I/O, device)
constexpr int kExitUsage = 2;       // bad command line
constexpr int kExitSomeFailed = 3;  // finished, but some records became error records

// "specbatch: error: <message>" on stderr.
void print_error(std::string_view message);
// "specbatch: <message>" on stderr.
void print_note(std::string_view message);

// A flag's typed value, parsed once in its CLI11 callback (parse_draft_spec(),
// parse_spec_policy()): a bad value is a usage error (exit 2) with the parser's message.
template <typename T>
T flag_value(StatusOr<T> parsed) {
  if (!parsed.ok()) throw CLI::ValidationError(parsed.status().message());
  return std::move(parsed).value();
}

// Writes all of `bytes` (retrying short writes and EINTR); `what` names the target.
Status write_all(int fd, std::string_view bytes, const std::string& what);

// Fails unless the directory `path` would be created in exists and can be
// written (a device or FIFO that exists needs none): checked before a model
// loads, so a mistyped output path costs nothing.
// `flag` names the option in the message ("-o out/x.jsonl: ...").
Status check_output_directory(const std::string& path, std::string_view flag);

// Reads a file descriptor to its end (stdin for `tokenize`).
StatusOr<std::string> read_all(int fd, const std::string& what);

// --device, --dtype, --threads and --replicas, checked: "cpu", "cuda" (= cuda:0),
// "cuda:N[,M...]" or "cuda:all"; dtype "auto", "f32" or "bf16" (bf16 only on cuda);
// CPU replicas split the threads between them (cuda: one replica per device).
struct DeviceChoice {
  enum class Weights { kAuto, kF32, kBF16 };
  bool cuda = false;
  std::vector<int> cuda_devices;  // empty with cuda: every device ("cuda:all")
  Weights weights = Weights::kAuto;
  int threads = 0;       // CPU threads, all replicas together; 0 = all cores
  int cpu_replicas = 1;  // CPU engine replicas (--replicas)

  // The threads of CPU replica i: --threads as given for one replica, else an
  // even split of them (all cores for 0), the first ones taking the remainder.
  int replica_threads(int i) const;
};
// A usage error names the flag and what it accepts.
StatusOr<DeviceChoice> parse_device(const std::string& device, const std::string& dtype, int threads,
                                    int replicas = 1);

// One backend per engine replica of a DeviceChoice; cuda reports clearly why it
// cannot be used (no nvcc at build time, no device, a device that does not exist).
StatusOr<std::vector<std::unique_ptr<Backend>>> make_backends(const DeviceChoice& choice);

// What run and bench compute with: the --device backends (one per engine
// replica), the model, its tokenizer and, when the --draft value names one, the
// draft model (the target quantized, or a file whose vocabulary was checked
// against the target's). Every replica uploads the one host model (and draft) to
// its backend; the CPU backend reads matrices in place, so CPU replicas share them.
struct LoadedModel {
  std::vector<std::unique_ptr<Backend>> backends;  // [replicas]
  Model model;
  std::unique_ptr<Tokenizer> tokenizer;
  std::optional<Model> draft_model;

  const Model* draft() const { return draft_model ? &*draft_model : nullptr; }
};
StatusOr<LoadedModel> load_for_generation(const std::string& model_path, const DraftSpec& draft,
                                          const DeviceChoice& choice);

// "specbatch 0.1.0 (CUDA: built|not built)".
std::string version_string();

}  // namespace sb::cli
