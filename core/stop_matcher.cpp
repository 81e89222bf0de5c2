#include "core/stop_matcher.h"

#include <algorithm>

#include "core/base/status.h"

namespace sb {

StopMatcher::StopMatcher(const Tokenizer& tokenizer, const GenerationRequest& request,
                         std::span<const int> eos_ids)
    : decoder_(tokenizer, request.prompt, !request.skip_special_tokens), request_(request), eos_ids_(eos_ids) {
  if (request.max_tokens <= 0) finish(FinishReason::kLength);
}

bool StopMatcher::finish(FinishReason reason) {
  // Flush a held-back partial character; it may complete a stop string.
  const size_t before = text_.size();
  text_ += decoder_.finish();
  if (cut_at_stop(before)) reason = FinishReason::kStop;
  reason_ = reason;
  done_ = true;
  return true;
}

bool StopMatcher::push(int32_t id) {
  SB_CHECK(!done_);
  ++n_generated_;
  const auto& ids = request_.stop_token_ids;
  if ((!request_.ignore_eos && std::find(eos_ids_.begin(), eos_ids_.end(), id) != eos_ids_.end()) ||
      std::find(ids.begin(), ids.end(), id) != ids.end())
    return finish(FinishReason::kStop);
  const size_t before = text_.size();
  text_ += decoder_.push(id);
  if (cut_at_stop(before)) {
    reason_ = FinishReason::kStop;
    done_ = true;
    return true;
  }
  if (n_generated_ >= request_.max_tokens) return finish(FinishReason::kLength);
  return false;
}

void StopMatcher::end() {
  if (!done_) finish(FinishReason::kLength);
}

bool StopMatcher::cut_at_stop(size_t before) {
  // Before min_tokens no stop string ends the text; after, one must end in new text.
  if (request_.stop.empty() || text_.size() == before || n_generated_ < request_.penalties.min_tokens) return false;
  size_t cut = std::string::npos, end = 0;  // the first match: where it starts and ends
  for (const std::string& s : request_.stop) {
    if (s.empty()) continue;
    const size_t at = text_.find(s, before >= s.size() ? before - s.size() + 1 : 0);  // ends in the new text
    if (at != std::string::npos && at < cut) {
      cut = at;
      end = at + s.size();
    }
  }
  if (cut == std::string::npos) return false;
  text_.resize(request_.include_stop_str ? end : cut);
  return true;
}

}  // namespace sb
