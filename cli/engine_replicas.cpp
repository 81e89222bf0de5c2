#include "cli/engine_replicas.h"

#include <utility>

namespace sb::cli {

EngineReplicas::EngineReplicas(std::vector<Engine*> engines) {
  SB_CHECK(!engines.empty());
  for (Engine* e : engines) {
    replicas_.push_back(std::make_unique<Replica>());
    replicas_.back()->engine = e;
  }
  if (replicas_.size() == 1) return;
  for (auto& r : replicas_) r->thread = std::thread([this, p = r.get()] { run_steps(p); });
}

EngineReplicas::~EngineReplicas() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    quit_ = true;
  }
  for (auto& r : replicas_) {
    r->go.notify_one();
    if (r->thread.joinable()) r->thread.join();
  }
}

void EngineReplicas::run_steps(Replica* r) {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    r->go.wait(lock, [&] { return quit_ || r->state == State::kStepping; });
    if (r->state != State::kStepping) return;  // quit
    lock.unlock();
    Status st = r->engine->step(&r->finished);
    lock.lock();
    r->status = std::move(st);
    r->state = State::kStepped;
    stepped_.notify_one();
  }
}

Engine& EngineReplicas::engine(size_t i) {
  std::lock_guard<std::mutex> lock(mu_);
  SB_CHECK(replicas_[i]->state != State::kStepping);
  return *replicas_[i]->engine;
}

bool EngineReplicas::idle(size_t i) const {
  std::lock_guard<std::mutex> lock(mu_);
  return replicas_[i]->state == State::kIdle;
}

bool EngineReplicas::busy() const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& r : replicas_)
    if (r->state != State::kIdle) return true;
  return false;
}

void EngineReplicas::start(size_t i) {
  Replica& r = *replicas_[i];
  SB_CHECK(r.state == State::kIdle);
  if (replicas_.size() == 1) {
    r.status = r.engine->step(&r.finished);
    r.state = State::kStepped;
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    r.state = State::kStepping;
  }
  r.go.notify_one();
}

size_t EngineReplicas::wait() {
  std::unique_lock<std::mutex> lock(mu_);
  const size_t n = replicas_.size();
  for (;;) {
    bool stepping = false;
    for (size_t k = 0; k < n; ++k) {
      const size_t i = (next_ + k) % n;
      if (replicas_[i]->state == State::kStepped) {
        next_ = (i + 1) % n;
        return i;
      }
      stepping = stepping || replicas_[i]->state == State::kStepping;
    }
    SB_CHECK(stepping);  // wait() with nothing started would wait forever
    stepped_.wait(lock);
  }
}

void EngineReplicas::wait_all() {
  std::unique_lock<std::mutex> lock(mu_);
  stepped_.wait(lock, [&] {
    for (const auto& r : replicas_)
      if (r->state == State::kStepping) return false;
    return true;
  });
}

Status EngineReplicas::take(size_t i, std::vector<FinishedRequest>* finished) {
  Replica& r = *replicas_[i];
  std::lock_guard<std::mutex> lock(mu_);
  SB_CHECK(r.state == State::kStepped);
  r.state = State::kIdle;
  for (FinishedRequest& f : r.finished) finished->push_back(std::move(f));
  r.finished.clear();
  return std::move(r.status);
}

EngineStats sum_engine_stats(const std::vector<EngineStats>& each) {
  static_assert(sizeof(EngineStats) == 11 * sizeof(uint64_t), "a new EngineStats count is summed here too");
  EngineStats sum;
  for (const EngineStats& s : each) {
    sum.steps += s.steps;
    sum.preemptions += s.preemptions;
    sum.computed_tokens += s.computed_tokens;
    sum.prompt_tokens += s.prompt_tokens;
    sum.cached_prompt_tokens += s.cached_prompt_tokens;
    sum.generated_tokens += s.generated_tokens;
    sum.drafted_tokens += s.drafted_tokens;
    sum.accepted_tokens += s.accepted_tokens;
    sum.sampled_steps += s.sampled_steps;
    sum.spec_verifications += s.spec_verifications;
    sum.drafter_steps += s.drafter_steps;
  }
  return sum;
}

}  // namespace sb::cli
