#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "stalecheck/util.h"

namespace stalecheck {

int ResolveJobs(int requested) {
  if (requested > 0) return requested;
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

absl::Status ParallelFor(size_t count, int jobs, const std::function<absl::Status(size_t)>& fn) {
  jobs = ResolveJobs(jobs);
  if (count == 0) return absl::OkStatus();
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  absl::Status first_error;
  auto worker = [&] {
    while (!failed.load(std::memory_order_relaxed)) {
      size_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= count) return;
      absl::Status st = fn(i);
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        // Keep the lowest-index error so the message does not depend on scheduling.
        if (!failed.exchange(true) || first_error.ok()) first_error = st;
        return;
      }
    }
  };
  size_t nthreads = std::min<size_t>(static_cast<size_t>(jobs), count);
  if (nthreads <= 1) {
    worker();
    return first_error;
  }
  std::vector<std::thread> threads;
  threads.reserve(nthreads - 1);
  for (size_t t = 1; t < nthreads; ++t) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  return first_error;
}

}  // namespace stalecheck
