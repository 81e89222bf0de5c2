#include "cli/run_pipeline.h"

#include <algorithm>
#include <utility>
#include <variant>

#include "cli/common.h"

namespace sb::cli {
namespace {

// The first sample the engine failed after it was added, or null.
const GenerationResult* first_failed(const std::vector<GenerationResult>& samples) {
  for (const GenerationResult& g : samples)
    if (!g.status.ok()) return &g;
  return nullptr;
}

}  // namespace

RunPipeline::RunPipeline(const RunOptions& o, const PipelineParts& parts)
    : o_(o),
      reader_(parts.reader),
      output_(parts.output),
      replicas_(parts.replicas),
      prompter_(parts.prompter),
      lines_(parts.lines),
      add_bos_(parts.add_bos),
      queue_cap_(parts.replicas.size() > 1 ? o.max_seqs : 2 * o.max_seqs),
      shard_(parts.shard),
      counted_(parts.input_records.has_value()),
      parser_(RecordParserOptions{o.ignore_unsupported}),
      sample_of_(parts.replicas.size()),
      engine_stats_(parts.replicas.size()) {
  if (parts.reorder_window > 0) window_.emplace(parts.reorder_window);
  counters_.backend = parts.backend;
  counters_.replicas = replicas_.size();
  counters_.replica_records.assign(replicas_.size(), 0);
  // Counted up front: progress has its total from the start.
  if (counted_) counters_.total = shard_.records_of(*parts.input_records) - output_.done().size();
}

GenerationRequest RunPipeline::make_request(const Record& r) const {
  const RecordParams& p = r.params;
  GenerationRequest req;
  req.index = r.index;
  req.max_tokens = static_cast<int>(p.max_tokens.value_or(o_.max_tokens));
  req.sampling.temperature = static_cast<float>(p.temperature.value_or(o_.temperature));
  req.sampling.top_p = static_cast<float>(p.top_p.value_or(o_.top_p));
  req.sampling.top_k = static_cast<int>(p.top_k.value_or(o_.top_k));
  req.sampling.min_p = static_cast<float>(p.min_p.value_or(o_.min_p));
  req.sampling.seed = p.seed.value_or(o_.seed);
  req.sampling.typical_p = static_cast<float>(p.typical_p.value_or(1));
  req.stop = p.stop.value_or(o_.stop);
  req.include_stop_str = p.include_stop_str_in_output.value_or(false);
  req.skip_special_tokens = p.skip_special_tokens.value_or(true);
  req.ignore_eos = p.ignore_eos.value_or(o_.ignore_eos);
  req.stop_token_ids = p.stop_token_ids.value_or(std::vector<int32_t>());
  req.logprobs = p.logprobs.value_or(o_.logprobs);
  req.penalties.repetition_penalty = static_cast<float>(p.repetition_penalty.value_or(o_.repetition_penalty));
  req.penalties.presence_penalty = static_cast<float>(p.presence_penalty.value_or(0));
  req.penalties.frequency_penalty = static_cast<float>(p.frequency_penalty.value_or(0));
  req.penalties.logit_bias = p.logit_bias.value_or(std::vector<std::pair<int32_t, float>>());
  req.penalties.min_tokens = static_cast<int>(p.min_tokens.value_or(0));
  return req;
}

std::optional<size_t> RunPipeline::replica_with_room() {
  std::optional<size_t> best;
  int best_pending = queue_cap_;
  for (size_t r = 0; r < replicas_.size(); ++r) {
    if (!replicas_.idle(r)) continue;
    const int pending = replicas_.engine(r).n_pending();
    if (pending < best_pending) {
      best = r;
      best_pending = pending;
    }
  }
  return best;
}

Status RunPipeline::admit() {
  while (!input_done_ && (!window_ || window_->has_room())) {
    const std::optional<size_t> r = replica_with_room();
    if (!r) return ok_status();
    StatusOr<bool> more = reader_.next(&line_);
    if (!more.ok()) {  // damaged input: what came before it is intact and finishes
      input_error_ = more.status();
      input_done_ = true;
      return ok_status();
    }
    if (!*more && reader_.waiting()) return ok_status();  // a pipe with nothing yet: step the engine, or stop
    if (!*more) {
      input_done_ = true;
      input_read_to_end_ = true;
      counters_.total = n_read_;
      counters_.total_estimated = false;
      return output_.check_indices_below(reader_.n_lines_seen());
    }
    if (output_.done().contains(line_.index)) continue;  // resume: written by an earlier run
    ++n_read_;
    SB_RETURN_IF_ERROR(admit_line(line_, *r));
  }
  return ok_status();
}

Status RunPipeline::admit_line(const JsonlLine& line, size_t r) {
  const uint64_t slot = window_ ? window_->admit() : 0;
  ParsedRecord parsed = parser_.parse(line.text, line.index);
  Record& rec = parsed.record;
  if (parsed.error) return record_error(slot, rec, parsed.error->code, parsed.error->message);
  note_ignored_fields(rec);
  GenerationRequest req = make_request(rec);
  if (rec.params.constraint && rec.params.constraint->kind != ConstraintKind::kNone) {
    // Compiled once per distinct constraint for the run; an error names the field.
    auto constraint = replicas_.engine(r).constraint(*rec.params.constraint);
    if (!constraint.ok())
      return record_error(slot, rec,
                          constraint.status().code() == StatusCode::kUnsupported ? RecordErrorCode::kUnsupported
                                                                                   : RecordErrorCode::kInvalidParam,
                          constraint.status().message());
    req.constraint = std::move(constraint).value();
  }
  std::variant<ChatPrompter::Prompt, RecordError> prompt = prompter_.prompt(rec, add_bos_);
  rec.prompt = std::string();  // the output line needs none of the prompt's text
  rec.messages_json = std::string();
  rec.tools_json = std::string();
  rec.chat_template_kwargs_json = std::string();
  if (const RecordError* e = std::get_if<RecordError>(&prompt)) return record_error(slot, rec, e->code, e->message);
  req.prompt = std::move(std::get<ChatPrompter::Prompt>(prompt).ids);
  if (const std::optional<int64_t> keep = rec.params.truncate_prompt_tokens) {  // the last N, vLLM's cut
    const size_t n_keep = static_cast<size_t>(*keep < 0 ? replicas_.engine(r).max_ctx() : *keep);
    if (req.prompt.size() > n_keep) req.prompt.erase(req.prompt.begin(), req.prompt.end() - static_cast<long>(n_keep));
  }
  if (req.prompt.empty())
    return record_error(slot, rec, RecordErrorCode::kMissingPrompt,
                        "the prompt is empty and the model adds no BOS token to start from");
  const size_t n = static_cast<size_t>(rec.params.n.value_or(o_.n));
  SB_ASSIGN_OR_RETURN(const bool added, add_samples(r, slot, rec, req, n));
  if (!added) return ok_status();
  std::vector<int32_t> prompt_ids;
  if (lines_.wants_token_ids(rec)) prompt_ids = std::move(req.prompt);
  in_flight_.emplace(rec.index,
                     InFlight{slot, std::move(rec), std::move(prompt_ids), std::vector<GenerationResult>(n), 0});
  return ok_status();
}

void RunPipeline::note_ignored_fields(const Record& rec) {
  counters_.ignored_fields += rec.ignored_fields.size();
  for (const std::string& name : rec.ignored_fields) {
    if (!warned_fields_.insert(name).second || o_.quiet) continue;
    print_note("warning: " + name + " is not supported and is ignored (--ignore-unsupported), first in record " +
               std::to_string(rec.index) + "; the summary counts every ignored field");
  }
}

// Sample k draws with seed + k; all samples share the prompt's KV blocks through
// the prefix cache. They differ only in the seed, so add() refuses the first or none.
StatusOr<bool> RunPipeline::add_samples(size_t r, uint64_t slot, const Record& rec, const GenerationRequest& req,
                                        size_t n) {
  for (size_t k = 0; k < n; ++k) {
    GenerationRequest sample = req;
    sample.sampling.seed = req.sampling.seed + k;
    StatusOr<uint64_t> id = replicas_.engine(r).add(std::move(sample));
    if (id.ok()) {
      sample_of_[r].emplace(*id, SampleOf{rec.index, k});
      ++n_requests_;
      continue;
    }
    SB_CHECK(k == 0);
    const Status& why = id.status();
    SB_RETURN_IF_ERROR(why.code() == StatusCode::kOutOfRange
                           ? record_error(slot, rec, RecordErrorCode::kPromptTooLong,
                                          why.message() + " (see --ctx, --kv-cache-mb)")
                           : record_error(slot, rec, RecordErrorCode::kInvalidParam, why.message()));
    return false;
  }
  return true;
}

Status RunPipeline::record_error(uint64_t slot, const Record& rec, RecordErrorCode code, const std::string& message) {
  ++counters_.failed;
  return emit(slot, lines_.error(rec, code, message), true);
}

Status RunPipeline::emit(uint64_t slot, std::string line, bool is_error) {
  if (is_error && output_.errors() != nullptr) {
    SB_RETURN_IF_ERROR(output_.errors()->write_record(line));
    line.clear();
  }
  if (!window_) return line.empty() ? ok_status() : output_.out().write_record(line);
  window_->complete(slot, std::move(line));
  while (std::optional<std::string> ready = window_->pop()) SB_RETURN_IF_ERROR(output_.out().write_record(*ready));
  return ok_status();
}

size_t RunPipeline::stop() {
  input_done_ = true;
  replicas_.wait_all();
  size_t n_dropped = 0;
  for (size_t r = 0; r < replicas_.size(); ++r) {
    for (uint64_t id : replicas_.engine(r).cancel_waiting()) {
      const auto sample = sample_of_[r].find(id);
      n_dropped += in_flight_.erase(sample->second.index);
      sample_of_[r].erase(sample);
      --n_requests_;
    }
  }
  dropped_ = n_dropped > 0;
  return n_dropped;
}

void RunPipeline::read_rest_after_stop() {
  if (dropped_ || !input_error_.ok() || !in_flight_.empty() || input_read_to_end_) return;
  StatusOr<bool> more = reader_.next(&line_);
  while (more.ok() && *more && output_.done().contains(line_.index)) more = reader_.next(&line_);
  input_read_to_end_ = more.ok() && !*more && !reader_.waiting();
}

void RunPipeline::estimate_total() {
  const std::optional<double> f = reader_.fraction_read();
  if (!f || *f <= 0) return;
  const double input_records = static_cast<double>(reader_.n_lines_seen()) / *f;
  const double mine = input_records / static_cast<double>(shard_.count) - static_cast<double>(output_.done().size());
  counters_.total = std::max<uint64_t>(n_read_, static_cast<uint64_t>(std::max(0.0, mine)));
  counters_.total_estimated = true;
}

Status RunPipeline::drain() {
  for (size_t r = 0; r < replicas_.size(); ++r)
    if (!sample_of_[r].empty() && replicas_.idle(r)) replicas_.start(r);
  if (!replicas_.busy()) return ok_status();
  const size_t r = replicas_.wait();
  SB_RETURN_IF_ERROR(replicas_.take(r, &finished_));
  SB_RETURN_IF_ERROR(write_finished(r));
  engine_stats_[r] = replicas_.engine(r).stats();
  counters_.engine = sum_engine_stats(engine_stats_);
  if (!counted_ && !input_read_to_end_) estimate_total();
  return ok_status();
}

Status RunPipeline::write_finished(size_t r) {
  for (FinishedRequest& f : finished_) {
    const auto sample = sample_of_[r].find(f.id);
    if (sample == sample_of_[r].end()) continue;  // a sample of a record a stop dropped
    const uint64_t index = sample->second.index;
    const size_t k = sample->second.k;
    sample_of_[r].erase(sample);
    --n_requests_;
    const auto it = in_flight_.find(index);
    if (it == in_flight_.end()) continue;
    InFlight& rec = it->second;
    rec.samples[k] = std::move(f.result);
    if (++rec.n_done < rec.samples.size()) continue;
    ++counters_.replica_records[r];
    if (const GenerationResult* failed = first_failed(rec.samples)) {  // its constraint failed it
      SB_RETURN_IF_ERROR(record_error(rec.slot, rec.record,
                                      failed->status.code() == StatusCode::kOutOfRange
                                          ? RecordErrorCode::kConstraintDeadEnd
                                          : RecordErrorCode::kInternal,
                                      failed->status.message()));
      in_flight_.erase(it);
      continue;
    }
    ++counters_.ok;
    counters_.prompt_tokens += static_cast<uint64_t>(rec.samples[0].prompt_tokens);
    for (const GenerationResult& g : rec.samples)
      counters_.generated_tokens += static_cast<uint64_t>(g.completion_tokens);
    SB_RETURN_IF_ERROR(emit(rec.slot, lines_.result(rec.record, rec.samples, rec.prompt_ids), false));
    in_flight_.erase(it);
  }
  finished_.clear();
  return ok_status();
}

}  // namespace sb::cli
