// `specbatch tokenize`: text -> token ids on one line, separated by single spaces;
// with --messages, JSONL records -> the prompt `run` would give the model for
// each (chat messages rendered by the chat template), as one JSON line each.
#include <unistd.h>

#include <variant>

#include "cli/chat.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/output_line.h"
#include "core/tokenizer/tokenizer.h"
#include "formats/jsonl_reader.h"
#include "formats/output_sink.h"
#include "formats/record.h"

namespace sb::cli {

CLI::App* add_tokenize_command(CLI::App& app, TokenizeOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "tokenize", "Print the token ids of a text (one line, space-separated), or the prompts of JSONL records");
  cmd->add_option("-m,--model", o.model,
                  "GGUF model, vocab-only GGUF, tokenizer.json, or Hugging Face directory")
      ->required();
  cmd->add_flag("--no-bos", o.no_bos, "Do not prepend BOS even when the model's settings ask for it");
  CLI::Option* text = cmd->add_option("--text", o.text, "The text (default: all of stdin, newlines included)")
                          ->each([&o](const std::string&) { o.has_text = true; });
  CLI::Option* messages =
      cmd->add_flag("--messages", o.messages,
                    "Read JSONL records from stdin (plain or zstd) as run does and print, per record, one JSON line "
                    "{\"index\",\"id\",\"prompt\",\"token_ids\"}: the prompt run gives the model (\"messages\" "
                    "rendered by the chat template) and its ids");
  messages->excludes(text);
  cmd->add_option("--chat-template", o.chat_template, "With --messages: as run's --chat-template")
      ->type_name("FILE")->needs(messages);
  cmd->add_option("--chat-template-kwargs", o.chat_template_kwargs, "With --messages: as run's --chat-template-kwargs")
      ->type_name("JSON")->needs(messages);
  return cmd;
}

namespace {

// --messages: each record's prompt line, or its error record (as run writes it).
// Exit 3 when some records failed, like run.
int print_record_prompts(const TokenizeOptions& o, const Tokenizer& tok, const jinja::Dict& kwargs) {
  auto reader = JsonlReader::open({});
  auto prompter = ChatPrompter::create(tok, o.chat_template, kwargs);
  Status st = reader.ok() ? prompter.status() : reader.status();
  const OutputLineFormat lines(OutputLineOptions{}, tok);
  const std::unique_ptr<OutputSink> out = OutputSink::for_fd(STDOUT_FILENO, "stdout", OutputSinkOptions{});
  RecordParser parser;
  JsonlLine line;
  uint64_t n_failed = 0;
  while (st.ok()) {
    StatusOr<bool> more = (*reader)->next(&line);
    if (!more.ok() || !*more) {
      st = more.status();
      break;
    }
    const ParsedRecord parsed = parser.parse(line.text, line.index);
    std::variant<ChatPrompter::Prompt, RecordError> prompt =
        parsed.error ? std::variant<ChatPrompter::Prompt, RecordError>(*parsed.error)
                     : prompter->prompt(parsed.record, !o.no_bos && tok.add_bos_default());
    if (const RecordError* e = std::get_if<RecordError>(&prompt)) {
      ++n_failed;
      st = out->write_record(lines.error(parsed.record, e->code, e->message));
    } else {
      const ChatPrompter::Prompt& p = std::get<ChatPrompter::Prompt>(prompt);
      st = out->write_record(lines.prompt(parsed.record, p.text, p.ids));
    }
  }
  if (st.ok()) st = out->close();
  if (!st.ok()) {
    print_error(st.message());
    return kExitFatal;
  }
  return n_failed == 0 ? kExitOk : kExitSomeFailed;
}

}  // namespace

int tokenize_command(const TokenizeOptions& o) {
  auto kwargs = parse_chat_template_kwargs(o.chat_template_kwargs);
  if (!kwargs.ok()) {
    print_error(kwargs.status().message());
    return kExitUsage;
  }
  auto tokenizer = Tokenizer::load(o.model);
  if (!tokenizer.ok()) {
    print_error(tokenizer.status().message());
    return kExitFatal;
  }
  const Tokenizer& tok = **tokenizer;
  if (o.messages) return print_record_prompts(o, tok, *kwargs);
  std::string text = o.text;
  if (!o.has_text) {
    auto in = read_all(STDIN_FILENO, "stdin");
    if (!in.ok()) {
      print_error(in.status().message());
      return kExitFatal;
    }
    text = std::move(in).value();
  }
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
