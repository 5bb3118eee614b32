// SPDX-License-Identifier: GPL-2.0-only
// Attaching LSM and fentry programs while the object's later programs are still loading.
//
// A cold start of the all-hooks tracer is two long kernel phases one after the other: loading ~230
// programs (the verifier, CPU-bound) and attaching ~230 links (trampolines and text patching, serialised
// in the kernel). libbpf loads an object's programs one by one in object order and calls the section
// handler's prepare hook (lsmattach.cc) right before each load, so at that point every earlier program
// is loaded. The pipeline hands those to a second thread, which attaches each through its own copy of
// the program's descriptor while the loading thread goes on verifying: the two phases overlap on the
// target's CPUs instead of adding up.
//
// The attaching thread never touches libbpf's state: libbpf closes every program descriptor when a load
// fails, and a descriptor number read from it at that moment could name something else. It gets a
// duplicate made on the loading thread, and makes bare link descriptors (struct Link with no bpf_link).
//
// Two threads attach. On 6.1 an fentry or LSM attach registers an ftrace direct call, and whenever the
// kernel's table of direct calls has to grow (3 times while ~230 are added to an empty one) the attach
// waits for an RCU-tasks grace period after it has made its change. The kernel's own locks serialise the
// attaches themselves, so the second thread only goes on attaching while the first waits: a standalone
// loader in the 6.1 VM attached the tracer's 228 programs in 1.16-1.30 s with two threads against
// 1.26-1.39 s with one (4 alternated runs each).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <mutex>
#include <set>
#include <thread>
#include <unistd.h>

#include "core.h"

namespace bpflsm {
namespace {
thread_local AttachPipeline* activePipeline = nullptr;
constexpr int kAttachThreads = 2;
}  // namespace

AttachPipeline::AttachPipeline(bpf_object* obj, const std::vector<std::string>& programs)
    : obj_(obj), wanted_(programs.begin(), programs.end()) {
  if (wanted_.empty()) return;
  for (int i = 0; i < kAttachThreads; i++) threads_.emplace_back([this] { Run(); });
}

AttachPipeline::~AttachPipeline() {
  Stop();
  for (Made& m : made_) {
    if (m.linkFd >= 0) close(m.linkFd);
  }
}

AttachPipeline* AttachPipeline::Active() { return activePipeline; }

AttachPipeline::Scope::Scope(AttachPipeline* p) : previous_(activePipeline) { activePipeline = p; }
AttachPipeline::Scope::~Scope() { activePipeline = previous_; }

bool AttachPipeline::Handles(const bpf_program* p) const {
  bpf_attach_type type = bpf_program__expected_attach_type(p);
  return wanted_.count(bpf_program__name(p)) > 0 && (type == BPF_LSM_MAC || type == BPF_TRACE_FENTRY);
}

void AttachPipeline::Hand(const bpf_program* p) {
  if (!Handles(p) || bpf_program__fd(p) < 0) return;
  int dup = fcntl(bpf_program__fd(p), F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return;  // left for the attach after the load
  {
    std::lock_guard<std::mutex> hold(mu_);
    queue_.push_back(Item{bpf_program__name(p), dup, static_cast<int>(bpf_program__expected_attach_type(p))});
  }
  cv_.notify_one();
}

void AttachPipeline::BeforeLoad(const bpf_program* next) {
  if (wanted_.empty()) return;
  for (bpf_program* p = bpf_object__next_program(obj_, cursor_); p && p != next; p = bpf_object__next_program(obj_, p)) {
    Hand(p);
    cursor_ = p;
  }
}

void AttachPipeline::Run() {
  for (;;) {
    Item item;
    {
      std::unique_lock<std::mutex> hold(mu_);
      cv_.wait(hold, [this] { return !queue_.empty() || done_; });
      if (queue_.empty()) return;
      item = std::move(queue_.front());
      queue_.pop_front();
    }
    int fd = bpf_link_create(item.progFd, 0, static_cast<bpf_attach_type>(item.type), nullptr);
    // Older kernels attach LSM and fentry programs only through BPF_RAW_TRACEPOINT_OPEN (LSM ones before 5.19).
    if (fd < 0 && (fd == -EINVAL || errno == EINVAL)) fd = bpf_raw_tracepoint_open(nullptr, item.progFd);
    int err = fd < 0 ? (errno ? errno : EINVAL) : 0;
    close(item.progFd);
    Made m;
    m.result.program = item.program;
    m.linkFd = fd < 0 ? -1 : fd;
    if (err) {
      m.result.err = err;
      m.result.message = "attaching " + item.program + " failed: " + ErrnoText(err);
    }
    std::lock_guard<std::mutex> hold(mu_);
    made_.push_back(std::move(m));
  }
}

void AttachPipeline::Stop() {
  {
    std::lock_guard<std::mutex> hold(mu_);
    done_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  for (Item& i : queue_) close(i.progFd);
  queue_.clear();
}

std::vector<AttachPipeline::Made> AttachPipeline::Finish() {
  if (!wanted_.empty()) {
    for (bpf_program* p = bpf_object__next_program(obj_, cursor_); p; p = bpf_object__next_program(obj_, p)) Hand(p);
  }
  Stop();
  std::vector<Made> out;
  out.swap(made_);
  return out;
}

void BeforeProgramLoad(const bpf_program* next) {
  if (AttachPipeline* p = AttachPipeline::Active()) p->BeforeLoad(next);
}

}  // namespace bpflsm
