// SPDX-License-Identifier: GPL-2.0-only
/*
 * Exec blocker: deny exec of binaries whose resolved path is listed. The rule is the 64-bit FNV-1a hash of
 * the path bpf_d_path prints for the file being executed, kept in a hash map, so a rule is a fixed-size key
 * whatever the path's length. The known weakness of a path rule, which this example's tests show: moving or
 * renaming a listed binary gives it another path, and the copy runs (bpf/exec_block.bpf.c also matches the
 * inode and device, and optionally the content, to close that).
 *
 * lsm.s: bpf_d_path is only allowed in sleepable LSM programs.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define EPERM 1
#define PATH_MAX_LEN 256
#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

char LICENSE[] SEC("license") = "GPL";

/* FNV-1a 64 of a denied path -> 1. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u8);
} denied_paths SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, char[PATH_MAX_LEN]);
} path_buf SEC(".maps");

static __always_inline __u64 fnv1a64(const char *s, long len)
{
	__u64 h = FNV_OFFSET;

	for (int i = 0; i < PATH_MAX_LEN; i++) {
		if (i >= len || !s[i])
			break;
		h ^= (unsigned char)s[i];
		h *= FNV_PRIME;
	}
	return h;
}

SEC("lsm.s/bprm_check_security")
int BPF_PROG(exec_blocker, struct linux_binprm *bprm, int ret)
{
	__u32 zero = 0;
	__u64 hash;
	char *path;
	long len;

	if (ret)
		return ret;
	path = bpf_map_lookup_elem(&path_buf, &zero);
	if (!path)
		return 0;
	len = bpf_d_path(&bprm->file->f_path, path, PATH_MAX_LEN);
	if (len <= 0)
		return 0;
	hash = fnv1a64(path, len - 1);
	if (bpf_map_lookup_elem(&denied_paths, &hash))
		return -EPERM;
	return 0;
}
