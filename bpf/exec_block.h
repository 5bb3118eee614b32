/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Shared between bpf/exec_block.bpf.c and its loader (extension/core/policy): the rule map's key and
 * value, and the event sent for every matched exec. The loader decodes all of them from the object's BTF
 * by member name, so only the names below are a contract.
 */
#ifndef EXEC_BLOCK_H
#define EXEC_BLOCK_H

#define EXEC_BLOCK_PATH_MAX 512

/* What a rule key identifies. */
enum exec_block_kind {
	EXEC_BLOCK_BY_PATH = 1,  /* a = 64-bit FNV-1a of the resolved path */
	EXEC_BLOCK_BY_INODE = 2, /* a = inode number, b = device (kernel encoding) */
	EXEC_BLOCK_BY_CONTENT = 3, /* a, b = first 16 bytes of the IMA file hash, pad = enum hash_algo */
	EXEC_BLOCK_CONTENT_ON = 4, /* present (a = b = 0): hash executed files and look them up by content */
};

enum exec_block_action {
	EXEC_BLOCK_DENY = 1,  /* enforce: exec fails with EPERM */
	EXEC_BLOCK_AUDIT = 2, /* audit: exec goes on, an event reports it */
};

struct exec_block_key {
	__u32 kind;
	__u32 pad;
	__u64 a;
	__u64 b;
};

struct exec_block_rule {
	__u32 action;
	__u32 pad;
};

struct exec_block_event {
	__u64 time_ns;
	__u64 ino;
	__u64 dev;
	__u64 path_hash;
	__u32 pid;
	__u32 uid;
	__u32 action;
	__u32 matched; /* enum exec_block_kind of the rule that matched */
	char comm[16];
	char path[256];
};

#endif
