// SPDX-License-Identifier: GPL-2.0-only
/*
 * Open guard: deny opening files directly inside a guarded directory for guarded users. A directory is
 * named by its inode and device (so renaming it does not lift the guard); users by uid. Root and other
 * users open the files as usual.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#define EACCES 13

char LICENSE[] SEC("license") = "GPL";

struct dir_key {
	__u64 ino;
	__u64 dev;
};

/* Guarded directories: inode + device (the kernel's dev_t, inode->i_sb->s_dev) -> 1. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct dir_key);
	__type(value, __u8);
} guarded_dirs SEC(".maps");

/* Guarded users: uid -> 1. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u8);
} guarded_uids SEC(".maps");

SEC("lsm/file_open")
int BPF_PROG(open_guard, struct file *file)
{
	struct dir_key key = {};
	struct inode *dir;
	__u32 uid;

	uid = (__u32)bpf_get_current_uid_gid();
	if (!bpf_map_lookup_elem(&guarded_uids, &uid))
		return 0;
	dir = BPF_CORE_READ(file, f_path.dentry, d_parent, d_inode);
	if (!dir)
		return 0;
	key.ino = BPF_CORE_READ(dir, i_ino);
	key.dev = BPF_CORE_READ(dir, i_sb, s_dev);
	if (bpf_map_lookup_elem(&guarded_dirs, &key))
		return -EACCES;
	return 0;
}
