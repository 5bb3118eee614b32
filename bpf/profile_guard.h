/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Shared between bpf/profile_guard.bpf.c and its loader (extension/core/policy/profileRules.ts): rule keys
 * and values, and the event sent for every audited or denied request of a profiled process. Keys are
 * written as raw bytes by the loader (layouts below are the contract); events are decoded from BTF.
 */
#ifndef PROFILE_GUARD_H
#define PROFILE_GUARD_H

#define PROFILE_MAX 64
#define PROFILE_PATH_MAX 256
#define PROFILE_PORTS_MAX 16

/* profile_path_key.kind */
enum profile_path_kind {
	PROFILE_EXEC_EXACT = 1,
	PROFILE_EXEC_PREFIX = 2, /* hash of a directory prefix ending in '/' */
	PROFILE_FILE_EXACT = 3,
	PROFILE_FILE_PREFIX = 4,
};

/* Access bits: rule values and requests. */
#define PROFILE_READ 1
#define PROFILE_WRITE 2
#define PROFILE_EXEC 4

enum profile_mode {
	PROFILE_OFF = 0,
	PROFILE_AUDIT = 1,
	PROFILE_ENFORCE = 2,
};

/* bls_prof_profiles[index] */
struct profile_conf {
	__u32 mode;         /* enum profile_mode; OFF: the slot is free */
	__u32 default_deny; /* 1: rules are an allow-list */
	__u32 descendants;  /* 1: what the subject execs stays under the profile */
	/*
	 * Depths of the profile's directory rules, exec and file: bit d-1 when a prefix rule ends at the
	 * path's d-th '/' ("/" is depth 1, "/etc/" 2), bit 31 for 32 and deeper. The walk looks up a prefix
	 * only at the depths some rule has.
	 */
	__u32 exec_dirs;
	__u32 file_dirs;
	__u32 pad;
};

/* bls_prof_subjects: the subject executable by inode and device (kernel dev_t) -> profile index */
struct profile_subject_key {
	__u64 ino;
	__u64 dev;
};

struct profile_path_key {
	__u32 profile;
	__u32 kind;
	__u64 hash; /* 64-bit FNV-1a of the path (or prefix) */
};

struct profile_path_rule {
	__u32 access; /* PROFILE_READ | PROFILE_WRITE | PROFILE_EXEC */
	__u32 rule;   /* index of the rule in its list, for events */
};

/*
 * bls_prof_net (LPM trie): prefixlen counts the bits after itself: 32 (profile) + 32 (family) + address
 * bits. addr holds the address bytes in network order (words, not chars, so the loader reads keys back
 * as numbers).
 */
struct profile_net_key {
	__u32 prefixlen;
	__u32 profile; /* big-endian, so it is matched whole before the address */
	__u32 family;  /* 4 or 6 */
	__u32 addr[4];
};

struct profile_port {
	__u8 proto; /* 0 any, 1 tcp, 2 udp */
	__u8 any_port;
	__u16 port; /* host order */
	__u32 rule;
};

/* Every (proto, port) allowed or denied for the prefix, including those of shorter covering prefixes. */
struct profile_net_rule {
	__u32 count;
	__u32 pad;
	struct profile_port ports[PROFILE_PORTS_MAX];
};

enum profile_request {
	PROFILE_REQ_EXEC = 1,
	PROFILE_REQ_FILE = 2,
	PROFILE_REQ_CONNECT = 3,
};

struct profile_event {
	__u64 time_ns;
	__u32 pid;
	__u32 uid;
	__u32 profile;
	__u32 request; /* enum profile_request */
	__u32 mode;    /* enum profile_mode of the profile: ENFORCE denied it, AUDIT reported it */
	__u32 access;
	__s32 rule;    /* the rule that decided, or -1: the profile's default */
	__u16 port;
	__u8 family;
	__u8 proto;
	__u8 addr[16];
	char comm[16];
	char path[PROFILE_PATH_MAX];
};

#endif
