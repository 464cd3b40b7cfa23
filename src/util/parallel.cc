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

size_t ParallelWorkers(size_t count, int jobs) {
  return std::max<size_t>(1, std::min<size_t>(static_cast<size_t>(ResolveJobs(jobs)), count));
}

absl::Status ParallelFor(size_t count, int jobs, const std::function<absl::Status(size_t, size_t)>& fn) {
  if (count == 0) return absl::OkStatus();
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  absl::Status first_error;
  size_t error_index = count;
  auto worker = [&](size_t slot) {
    while (!failed.load(std::memory_order_relaxed)) {
      size_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= count) return;
      absl::Status st = fn(i, slot);
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        failed = true;
        // Keep the lowest-index error so the message does not depend on scheduling.
        if (i < error_index) {
          error_index = i;
          first_error = std::move(st);
        }
        return;
      }
    }
  };
  const size_t nthreads = ParallelWorkers(count, jobs);
  std::vector<std::thread> threads;
  threads.reserve(nthreads - 1);
  for (size_t t = 1; t < nthreads; ++t) threads.emplace_back(worker, t);
  worker(0);
  for (auto& t : threads) t.join();
  return first_error;
}

absl::Status ParallelFor(size_t count, int jobs, const std::function<absl::Status(size_t)>& fn) {
  return ParallelFor(count, jobs, [&](size_t i, size_t) { return fn(i); });
}

}  // namespace stalecheck
