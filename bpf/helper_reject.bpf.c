// SPDX-License-Identifier: GPL-2.0-only
/*
 * Deliberately rejected by the verifier (a map value is used without its NULL check), so the tests can
 * show that the verifier log and the failing program come back to the client. A harmless program comes
 * first: it loads before the rejection, so a load that attaches as it goes has attached it by then.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} reject_counts SEC(".maps");

SEC("lsm/file_permission")
int BPF_PROG(hlpr_fine, struct file *file, int mask)
{
	return 0;
}

SEC("lsm/file_open")
int BPF_PROG(hlpr_unchecked, struct file *file)
{
	__u32 key = 0;
	__u64 *count = bpf_map_lookup_elem(&reject_counts, &key);

	*count += 1;
	return 0;
}
