// The engine replicas of `specbatch run` (--device cuda:0,1 or --replicas N on
// the CPU): each engine steps on a thread of its own while the run's thread
// reads, admits and writes. An engine is touched by one thread at a time: the
// run's thread adds requests to a replica and takes what it finished only
// between its steps (start() hands the engine to its thread, wait() and take()
// hand it back). A single replica steps on the run's thread: no hand-off.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/base/status.h"
#include "core/engine.h"

namespace sb::cli {

class EngineReplicas {
 public:
  // One thread per engine when there are several; the engines outlive this.
  explicit EngineReplicas(std::vector<Engine*> engines);
  // Waits for steps in progress, then ends the threads.
  ~EngineReplicas();
  EngineReplicas(const EngineReplicas&) = delete;
  EngineReplicas& operator=(const EngineReplicas&) = delete;

  size_t size() const { return replicas_.size(); }
  // Replica i's engine: only while it is not stepping (idle, or stepped and not yet taken).
  Engine& engine(size_t i);
  // Neither stepping nor holding a step's results: start() may be called.
  bool idle(size_t i) const;
  // Some replica is stepping or holds a step's results: wait() returns.
  bool busy() const;

  // Replica i (idle) runs one step.
  void start(size_t i);
  // Waits for a started step to end; returns its replica (those that ended take turns).
  size_t wait();
  // Waits until no replica is stepping (every step started has ended).
  void wait_all();
  // Replica i's step, ended: appends the requests it finished to *finished and
  // returns its status (an error is fatal for the run); i is idle again.
  Status take(size_t i, std::vector<FinishedRequest>* finished);

 private:
  enum class State { kIdle, kStepping, kStepped };
  struct Replica {
    Engine* engine = nullptr;
    State state = State::kIdle;  // written under mu_ when there are threads
    Status status;                      // of the last step
    std::vector<FinishedRequest> finished;  // of the last step
    std::condition_variable go;         // signals the thread: start or quit
    std::thread thread;
  };
  void run_steps(Replica* r);  // a replica's thread

  std::vector<std::unique_ptr<Replica>> replicas_;
  mutable std::mutex mu_;
  std::condition_variable stepped_;  // signals the run's thread: a step ended
  bool quit_ = false;
  size_t next_ = 0;  // where wait() looks first
};

// The engines' counts summed (progress, the summary and --stats-json).
EngineStats sum_engine_stats(const std::vector<EngineStats>& each);

}  // namespace sb::cli
