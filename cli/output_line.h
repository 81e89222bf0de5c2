// How an output line of `specbatch run` looks, in every shape: specbatch's own
//   {"index","id","text","finish_reason",["token_ids"],["logprobs"],"usage",["spec"]}
//   (n > 1: "choices" [{"index", the sample's fields, ["spec"]}] instead of the text fields)
// or the OpenAI Batch output file's
//   {"index","id","custom_id","response":{"status_code":200,"request_id","body":<completion>},"error":null}
// and the error records of both: {"index","id","error":{"code","message"}} /
// {"index","id","custom_id","response":null,"error":{"code","message"}}.
// `tokenize --messages` writes {"index","id","prompt","token_ids"} (specbatch shape).
// Lines come without the newline; the caller writes each one whole.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "core/request.h"
#include "core/tokenizer/tokenizer.h"
#include "formats/record.h"

namespace sb::cli {

enum class OutputFormat { kSpecbatch, kOpenAi };

struct OutputLineOptions {
  OutputFormat format = OutputFormat::kSpecbatch;
  bool spec = false;              // write each sample's speculative counts ("spec"): a drafter is in use
  bool return_token_ids = false;  // default for records that do not set "return_token_ids"
  // OpenAI only: ids derive from the record index, so resumed and sharded runs
  // write the same ids as one run.
  std::string model;    // the body's "model": the model's file or directory name
  int64_t created = 0;  // the body's "created": unix seconds, when the run started
};

class OutputLineFormat {
 public:
  // `tok` gives the token texts of "logprobs".
  OutputLineFormat(const OutputLineOptions& options, const Tokenizer& tok) : options_(options), tok_(tok) {}

  // A record that failed: its code and a message saying what to fix.
  std::string error(const Record& r, RecordErrorCode code, const std::string& message) const;
  // A record that finished: samples are its n results (sample k drawn with seed + k);
  // usage counts the prompt once and the completion tokens of every sample.
  // prompt_ids: the record's prompt, written when wants_token_ids(r).
  std::string result(const Record& r, std::span<const GenerationResult> samples,
                     std::span<const int32_t> prompt_ids) const;
  // A record's prompt as the engine would get it: the text and its token ids.
  std::string prompt(const Record& r, const std::string& text, std::span<const int32_t> ids) const;
  bool wants_token_ids(const Record& r) const { return r.params.return_token_ids.value_or(options_.return_token_ids); }

 private:
  std::string specbatch_result(const Record& r, std::span<const GenerationResult> samples,
                               std::span<const int32_t> prompt_ids) const;
  std::string openai_result(const Record& r, std::span<const GenerationResult> samples,
                            std::span<const int32_t> prompt_ids) const;

  OutputLineOptions options_;
  const Tokenizer& tok_;
};

}  // namespace sb::cli
