// `specbatch tokenize`: text -> token ids on one line, separated by single spaces.
#include <unistd.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/tokenizer/tokenizer.h"

namespace sb::cli {

CLI::App* add_tokenize_command(CLI::App& app, TokenizeOptions& o) {
  CLI::App* cmd = app.add_subcommand("tokenize", "Print the token ids of a text (one line, space-separated)");
  cmd->add_option("-m,--model", o.model,
                  "GGUF model, vocab-only GGUF, tokenizer.json, or Hugging Face directory")
      ->required();
  cmd->add_flag("--no-bos", o.no_bos, "Do not prepend BOS even when the model's settings ask for it");
  cmd->add_option("--text", o.text, "The text (default: all of stdin, newlines included)")
      ->each([&o](const std::string&) { o.has_text = true; });
  return cmd;
}

int tokenize_command(const TokenizeOptions& o) {
  auto tokenizer = Tokenizer::load(o.model);
  if (!tokenizer.ok()) {
    print_error(tokenizer.status().message());
    return kExitFatal;
  }
  std::string text = o.text;
  if (!o.has_text) {
    auto in = read_all(STDIN_FILENO, "stdin");
    if (!in.ok()) {
      print_error(in.status().message());
      return kExitFatal;
    }
    text = std::move(in).value();
  }
  const Tokenizer& tok = **tokenizer;
  const std::vector<int32_t> ids = tok.encode(text, !o.no_bos && tok.add_bos_default());
  std::string line;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) line.push_back(' ');
    line += std::to_string(ids[i]);
  }
  line.push_back('\n');
  const Status s = write_all(STDOUT_FILENO, line, "stdout");
  if (!s.ok()) {
    print_error(s.message());
    return kExitFatal;
  }
  return kExitOk;
}

}  // namespace sb::cli
