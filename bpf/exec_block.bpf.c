// SPDX-License-Identifier: GPL-2.0-only
/*
 * Deny (or audit) exec of listed binaries. A rule matches the resolved path of the file being executed
 * (64-bit FNV-1a, so a rule is a fixed-size key) or its inode and device, so renaming or moving the file
 * does not escape the rule; optionally also by content (IMA file hash), so a copy does not escape it
 * either. The rule and event maps are pinned by name on the bpffs: the policy loader
 * updates them in place while the program stays attached through its pinned link.
 *
 * lsm.s: bpf_d_path is only allowed in sleepable LSM programs (kernel/trace/bpf_trace.c, since 5.11).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "exec_block.h"

#define EPERM 1
#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct exec_block_key);
	__type(value, struct exec_block_rule);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bls_exec_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bls_exec_events SEC(".maps");

struct scratch {
	char path[EXEC_BLOCK_PATH_MAX];
	char digest[64];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} bls_exec_scratch SEC(".maps");

/* Anchors the event type in the object's BTF: the loader decodes events by member name from it. */
struct exec_block_event *exec_block_event_type __attribute__((unused));

/* Events lost because the ring was full (nobody was reading, or not fast enough). */
__u64 events_dropped;

static __always_inline __u64 fnv1a(const char *s, long len)
{
	__u64 h = FNV_OFFSET;

	for (int i = 0; i < EXEC_BLOCK_PATH_MAX; i++) {
		if (i >= len || !s[i])
			break;
		h ^= (unsigned char)s[i];
		h *= FNV_PRIME;
	}
	return h;
}

SEC("lsm.s/bprm_check_security")
int BPF_PROG(exec_block_check, struct linux_binprm *bprm, int ret)
{
	struct exec_block_key key = {};
	struct exec_block_rule *rule;
	struct exec_block_event *e;
	struct inode *inode;
	struct scratch *buf;
	__u64 path_hash = 0;
	__u32 zero = 0;
	long len;

	if (ret)
		return ret;
	buf = bpf_map_lookup_elem(&bls_exec_scratch, &zero);
	if (!buf)
		return 0;
	inode = bprm->file->f_inode;
	len = bpf_d_path(&bprm->file->f_path, buf->path, sizeof(buf->path));
	if (len > 0)
		path_hash = fnv1a(buf->path, len - 1);
	key.kind = EXEC_BLOCK_BY_PATH;
	key.a = path_hash;
	rule = len > 0 ? bpf_map_lookup_elem(&bls_exec_rules, &key) : NULL;
	if (!rule) {
		key.kind = EXEC_BLOCK_BY_INODE;
		key.a = inode->i_ino;
		key.b = inode->i_sb->s_dev;
		rule = bpf_map_lookup_elem(&bls_exec_rules, &key);
	}
	if (!rule) {
		struct exec_block_key on = { .kind = EXEC_BLOCK_CONTENT_ON };
		long algo;

		/* Hashing costs a read of the whole file (once per inode: IMA caches it), so only on request. */
		if (!bpf_map_lookup_elem(&bls_exec_rules, &on))
			return 0;
		algo = bpf_ima_file_hash(bprm->file, buf->digest, sizeof(buf->digest));
		if (algo < 0)
			return 0;
		key.kind = EXEC_BLOCK_BY_CONTENT;
		key.pad = algo;
		__builtin_memcpy(&key.a, buf->digest, 8);
		__builtin_memcpy(&key.b, buf->digest + 8, 8);
		rule = bpf_map_lookup_elem(&bls_exec_rules, &key);
		if (!rule)
			return 0;
	}

	e = bpf_ringbuf_reserve(&bls_exec_events, sizeof(*e), 0);
	if (e) {
		e->time_ns = bpf_ktime_get_boot_ns();
		e->ino = inode->i_ino;
		e->dev = inode->i_sb->s_dev;
		e->path_hash = path_hash;
		e->pid = bpf_get_current_pid_tgid() >> 32;
		e->uid = (__u32)bpf_get_current_uid_gid();
		e->action = rule->action;
		e->matched = key.kind;
		bpf_get_current_comm(e->comm, sizeof(e->comm));
		if (len > 0)
			bpf_probe_read_kernel_str(e->path, sizeof(e->path), buf->path);
		else
			e->path[0] = 0;
		bpf_ringbuf_submit(e, 0);
	} else {
		__sync_fetch_and_add(&events_dropped, 1);
	}
	return rule->action == EXEC_BLOCK_DENY ? -EPERM : 0;
}
