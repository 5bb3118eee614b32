// SPDX-License-Identifier: GPL-2.0-only
/*
 * Probe used by the helper's tests: two LSM hooks that report the watched process to a ring buffer,
 * a hash map keyed by tgid that the tests read and write, a const volatile cookie proving that globals
 * are set before load, and counters in .bss so every lost record is accounted for.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "helper_test.h"

char LICENSE[] SEC("license") = "GPL";

/* Only events of this process are reported; 0 reports nothing (the tests always set it). */
const volatile __u32 filter_tgid = 0;
/* Copied into every event so a test can see that .rodata was written before load. */
const volatile __u64 cookie = 0;

__u64 emitted = 0;
__u64 dropped = 0;

/* Not used by the programs: puts the event layout into the object's BTF for user-space decoding. */
const struct helper_test_event helper_test_event_anchor = {};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} helper_test_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct helper_test_watch);
} helper_test_watch SEC(".maps");

static __always_inline int report(__u32 hook)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct helper_test_watch *w;
	struct helper_test_event *e;

	if (filter_tgid == 0 || tgid != filter_tgid)
		return 0;
	w = bpf_map_lookup_elem(&helper_test_watch, &tgid);
	if (w)
		__sync_fetch_and_add(&w->hits, 1);
	e = bpf_ringbuf_reserve(&helper_test_events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&dropped, 1);
		return 0;
	}
	e->cookie = cookie;
	e->seq = __sync_fetch_and_add(&emitted, 1);
	e->tgid = tgid;
	e->hook = hook;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("lsm/file_open")
int BPF_PROG(hlpt_file_open, struct file *file)
{
	return report(HELPER_TEST_FILE_OPEN);
}

SEC("lsm/bprm_check_security")
int BPF_PROG(hlpt_bprm_check, struct linux_binprm *bprm)
{
	return report(HELPER_TEST_BPRM_CHECK);
}
