// SPDX-License-Identifier: GPL-2.0-only
// SEC("lsm/...") and SEC("lsm.s/...") programs, and SEC("fentry/bpf_lsm_...") ones (the tracer's), with the
// attach target found in an index.
//
// libbpf 1.1 finds each LSM program's target, the FUNC bpf_lsm_<hook>, by a linear scan of the kernel's
// BTF (~100k types) per program. Loading the all-hooks tracer (233 programs) spent ~0.5 s of user CPU in
// those scans on the 6.1 VM under TCG, about a fifth of its load. Here the bpf_lsm_* functions are indexed
// once per process and libbpf's own handling of the sections is replaced (custom handlers come before
// libbpf's): program type, attach type and sleepable flag as libbpf sets them, the target id from the index.
// fentry programs on other functions get libbpf's own lookup (vmlinux, then modules) before the load
// (ResolveTracingTargets). The handlers also tell the attach pipeline (attachpipeline.cc) which programs
// are loaded.
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core.h"

namespace bpflsm {
namespace {

constexpr char kPrefix[] = "bpf_lsm_";

struct HookIndex {
  std::unordered_map<std::string, int> ids;  // hook name (without the prefix) -> BTF type id
  int err = 0;                                // errno when the kernel's BTF could not be read
};

std::once_flag indexOnce;
HookIndex index;

const HookIndex& Index() {
  std::call_once(indexOnce, [] {
    btf* vmlinux = btf__load_vmlinux_btf();
    if (!vmlinux) {
      index.err = errno ? errno : ENOENT;
      return;
    }
    const size_t prefix = sizeof(kPrefix) - 1;
    for (__u32 id = 1, n = btf__type_cnt(vmlinux); id < n; id++) {
      const btf_type* t = btf__type_by_id(vmlinux, id);
      if (btf_kind(t) != BTF_KIND_FUNC) continue;
      const char* name = btf__name_by_offset(vmlinux, t->name_off);
      if (name && strncmp(name, kPrefix, prefix) == 0) index.ids.emplace(name + prefix, static_cast<int>(id));
    }
    btf__free(vmlinux);
  });
  return index;
}

constexpr long kSleepable = 1;

int PrepareLoad(bpf_program* prog, bpf_prog_load_opts* opts, long cookie) {
  // Every program before this one is loaded now: a load that attaches as it goes can take them.
  BeforeProgramLoad(prog);
  if (cookie == kSleepable) opts->prog_flags |= BPF_F_SLEEPABLE;
  // A target set with bpf_program__set_attach_target is already in the load attributes.
  if (opts->attach_btf_id) return 0;
  const char* section = bpf_program__section_name(prog);
  const char* slash = strchr(section, '/');
  std::string program = std::string("prog '") + bpf_program__name(prog) + "': ";
  if (!slash || !slash[1]) {
    NoteLibbpfMessage(program + "SEC(\"" + section + "\") names no LSM hook; write SEC(\"lsm/<hook>\")\n");
    return -EINVAL;
  }
  const HookIndex& hooks = Index();
  if (hooks.err) {
    NoteLibbpfMessage(program + "cannot read the kernel's BTF (/sys/kernel/btf/vmlinux) to find LSM hooks: " + ErrnoText(hooks.err) + "\n");
    return -hooks.err;
  }
  auto it = hooks.ids.find(slash + 1);
  if (it == hooks.ids.end()) {
    NoteLibbpfMessage(program + "this kernel has no LSM hook " + (slash + 1) + " (no function " + kPrefix + (slash + 1) + " in its BTF)\n");
    return -ESRCH;
  }
  opts->attach_btf_obj_fd = 0;
  opts->attach_btf_id = it->second;
  return 0;
}

int Attach(const bpf_program* prog, long, bpf_link** link) {
  *link = bpf_program__attach_lsm(prog);
  return *link ? 0 : -errno;
}

constexpr char kFentry[] = "fentry/";

/** The function a SEC("fentry/<function>") names ("" for any other section). */
const char* FentryFunction(const char* section) {
  return strncmp(section, kFentry, sizeof(kFentry) - 1) == 0 ? section + sizeof(kFentry) - 1 : "";
}

/** The BTF id of `fn` when it is the bpf_lsm_ function of an indexed hook, else 0. */
int IndexedHookFunction(const char* fn) {
  const size_t prefix = sizeof(kPrefix) - 1;
  if (strncmp(fn, kPrefix, prefix) != 0 || !fn[prefix]) return 0;
  const HookIndex& hooks = Index();
  auto it = hooks.err ? hooks.ids.end() : hooks.ids.find(fn + prefix);
  return it == hooks.ids.end() ? 0 : it->second;
}

int PrepareTracing(bpf_program* prog, bpf_prog_load_opts* opts, long) {
  BeforeProgramLoad(prog);
  // Set before the load: by libbpf's lookup (ResolveTracingTargets) or bpf_program__set_attach_target.
  if (opts->attach_btf_id) return 0;
  const char* section = bpf_program__section_name(prog);
  const char* fn = FentryFunction(section);
  int id = IndexedHookFunction(fn);
  if (!id) {
    NoteLibbpfMessage(std::string("prog '") + bpf_program__name(prog) + "': SEC(\"" + section + "\"): no function " + (*fn ? fn : "named") +
                      " in the kernel's or its modules' BTF\n");
    return -ESRCH;
  }
  opts->attach_btf_obj_fd = 0;
  opts->attach_btf_id = id;
  return 0;
}

int AttachTracing(const bpf_program* prog, long, bpf_link** link) {
  *link = bpf_program__attach_trace(prog);
  return *link ? 0 : -errno;
}

struct HandlerInstaller {
  HandlerInstaller() {
    LIBBPF_OPTS(libbpf_prog_handler_opts, plain, .cookie = 0, .prog_prepare_load_fn = PrepareLoad, .prog_attach_fn = Attach);
    LIBBPF_OPTS(libbpf_prog_handler_opts, sleepable, .cookie = kSleepable, .prog_prepare_load_fn = PrepareLoad, .prog_attach_fn = Attach);
    // Should registration fail, libbpf's own handlers stay in place and only the speed-up is lost.
    libbpf_register_prog_handler("lsm+", BPF_PROG_TYPE_LSM, BPF_LSM_MAC, &plain);
    libbpf_register_prog_handler("lsm.s+", BPF_PROG_TYPE_LSM, BPF_LSM_MAC, &sleepable);
    LIBBPF_OPTS(libbpf_prog_handler_opts, tracing, .cookie = 0, .prog_prepare_load_fn = PrepareTracing, .prog_attach_fn = AttachTracing);
    libbpf_register_prog_handler("fentry+", BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY, &tracing);
  }
} installHandlers;

}  // namespace

void ResolveTracingTargets(bpf_object* obj) {
  bpf_program* p;
  bpf_object__for_each_program(p, obj) {
    const char* fn = FentryFunction(bpf_program__section_name(p));
    if (!bpf_program__autoload(p) || bpf_program__expected_attach_type(p) != BPF_TRACE_FENTRY || !*fn) continue;
    if (IndexedHookFunction(fn)) continue;  // PrepareTracing finds it in the index
    // A failed lookup leaves the target unset: PrepareTracing then fails the load with the reason.
    bpf_program__set_attach_target(p, 0, fn);
  }
}

int IndexLsmHooks() {
  const HookIndex& hooks = Index();
  return hooks.err ? -hooks.err : static_cast<int>(hooks.ids.size());
}

}  // namespace bpflsm
