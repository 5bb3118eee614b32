// SPDX-License-Identifier: GPL-2.0-only
// A pool thread's CPU set, widened for the length of one load (binding.cc's BpfObject.load).
#ifndef BPFLSM_WIDENEDTHREAD_H
#define BPFLSM_WIDENEDTHREAD_H

#include <sched.h>

#include <cstdint>

namespace bpflsm {

// For one load: lets the calling pool thread (and the attach thread the load starts, which inherits it) run
// on CPUs 0..cpus-1 instead of the one CPU the VM's helper daemon keeps its threads on, and puts the thread's
// own set back afterwards. The kernel verifies each program in the loading thread, so a pinned load had the
// attach thread's trampoline updates queue up on the same vCPU. cpus 0: nothing changes.
class WidenedThread {
 public:
  explicit WidenedThread(uint32_t cpus) {
    if (cpus == 0 || cpus > CPU_SETSIZE || sched_getaffinity(0, sizeof(saved_), &saved_) != 0) return;
    cpu_set_t wide;
    CPU_ZERO(&wide);
    for (uint32_t c = 0; c < cpus; c++) CPU_SET(c, &wide);
    active_ = sched_setaffinity(0, sizeof(wide), &wide) == 0;
  }
  ~WidenedThread() {
    if (active_) sched_setaffinity(0, sizeof(saved_), &saved_);
  }
  WidenedThread(const WidenedThread&) = delete;
  WidenedThread& operator=(const WidenedThread&) = delete;

 private:
  cpu_set_t saved_{};
  bool active_ = false;
};

}  // namespace bpflsm

#endif
