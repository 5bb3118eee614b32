// SPDX-License-Identifier: GPL-2.0-only
/*
 * Ring buffer throughput probe: each getpgid() of the generator process emits `burst` records as fast as
 * bpf_loop allows. `emitted` and `dropped` let a consumer prove that received + dropped == emitted.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "ringbuf_bench.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 burst = 64;
/* Set after load (it is .bss), once the generator's pid is known. */
__u32 generator_tgid = 0;
__u64 emitted = 0;
__u64 dropped = 0;

const struct ringbuf_bench_record ringbuf_bench_record_anchor = {};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024);
} bench_events SEC(".maps");

static long emit_one(__u32 index, void *ctx)
{
	__u32 tgid = *(__u32 *)ctx;
	struct ringbuf_bench_record *r;

	r = bpf_ringbuf_reserve(&bench_events, sizeof(*r), 0);
	if (!r) {
		__sync_fetch_and_add(&dropped, 1);
		return 0;
	}
	r->seq = __sync_fetch_and_add(&emitted, 1);
	r->tgid = tgid;
	r->cpu = bpf_get_smp_processor_id();
	r->ktime = bpf_ktime_get_ns();
	__builtin_memset(r->payload, 0x5a, sizeof(r->payload));
	bpf_ringbuf_submit(r, 0);
	return 0;
}

SEC("lsm/task_getpgid")
int BPF_PROG(bench_getpgid, struct task_struct *p)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (generator_tgid == 0 || tgid != generator_tgid)
		return 0;
	bpf_loop(burst, emit_one, &tgid, 0);
	return 0;
}
