/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Records of the generated all-hooks tracer, shared with user space.
 *
 * Every record starts with struct tr_hdr. Hook records continue with one generated struct per hook
 * (struct tr_h_<hook>, see the generated tracer source) followed by a tail of strings that the fixed
 * part points into with struct tr_str. The TypeScript decoder (extension/shared/tracer) knows these
 * offsets from the generator, which also emits _Static_asserts of them into the generated source, and
 * a unit test compares them with the BTF of the compiled object: the two sides cannot drift.
 */
#ifndef TRACER_H
#define TRACER_H

#define TR_COMM_LEN 16
/* Largest record; strings that would not fit are cut and the record is flagged TR_F_TRUNCATED. */
#define TR_REC_MAX 4096
/* The scratch buffer is twice the record so that masked offsets plus a bounded copy always fit. */
#define TR_SCRATCH (2 * TR_REC_MAX)
/* One string copy (a file name component, a d_path result, an exec file name). */
#define TR_STR_MAX 256
/* Path components walked up from a dentry before giving up (the path is then marked cut). */
#ifndef TR_PATH_DEPTH
#define TR_PATH_DEPTH 16
#endif
/* Counter slots per trace; CPUs above this share slots (the counters are atomic, so sums stay right). */
#define TR_MAX_CPUS 64
/*
 * Traces at once on one resident tracer: each owns a slot, which routes its processes' records to its own
 * ring buffer (tr_rings[slot]) and counts them in its own counters (tr_counters[slot][cpu]).
 */
#define TR_SLOTS 8
/* Processes (tgid) below this have a flag in tr_maybe, the filter's fast path. */
#define TR_TGID_FLAGS 65536

enum tr_kind {
	TR_KIND_HOOK = 1,
	TR_KIND_SYS_ENTER = 2,
	TR_KIND_SYS_EXIT = 3,
	TR_KIND_FORK = 4,
	TR_KIND_EXIT = 5,
	TR_KIND_EXEC = 6,
};

enum tr_flags {
	/* Some strings of the record did not fit in TR_REC_MAX and were left out or cut. */
	TR_F_TRUNCATED = 1,
};

/* struct tr_str.len: the string was longer than its copy (or a path walk stopped before the root). */
#define TR_STR_CUT 0x8000
#define TR_STR_LEN_MASK 0x7fff

/* How a path string was made (struct tr_v_file/tr_v_path .path_src). */
enum tr_path_src {
	TR_PATH_NONE = 0,
	/* bpf_d_path: the kernel's own full path (only on hooks that allow the helper). */
	TR_PATH_DPATH = 1,
	/* Dentry names walked up across mounts to the root: components, leaf first, NUL-separated. */
	TR_PATH_MOUNTS = 2,
	/* Dentry names walked up to the root of its file system only (no mount known). */
	TR_PATH_DENTRY = 3,
};

struct tr_hdr {
	__u64 time_ns;		/* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 pid;		/* thread id */
	__u32 tgid;		/* process id */
	__u32 cpu;
	__u16 kind;		/* enum tr_kind */
	__u16 id;		/* hook id (generated), or the syscall number's low 16 bits */
	__u16 size;		/* bytes of the whole record, tail included */
	__u16 flags;		/* enum tr_flags */
	__s32 ret;		/* int hooks: the return value of earlier BPF programs of this hook */
	char comm[TR_COMM_LEN];
};

/* A string in the record's tail: offset from the record start and length (without the NUL). */
struct tr_str {
	__u16 off;
	__u16 len;
};

struct tr_sys_enter {
	struct tr_hdr hdr;
	__s64 nr;
	__u64 args[6];
};

struct tr_sys_exit {
	struct tr_hdr hdr;
	__s64 nr;
	__s64 ret;
};

struct tr_fork {
	struct tr_hdr hdr;
	__u32 child_pid;
	__u32 child_tgid;
	/* 1 when the child is a new thread of the parent's process (CLONE_THREAD). */
	__u32 thread;
	/* 1 when the child was added to the traced set by this fork. */
	__u32 followed;
};

struct tr_exit {
	struct tr_hdr hdr;
	__s32 exit_code;
	/* 1 when this was the last thread: the process left the traced set. */
	__u32 group_dead;
};

/* A traced process replaced its program (sched_process_exec: after the point of no return). */
struct tr_exec {
	struct tr_hdr hdr;
	__u32 old_pid;		/* the thread that called execve (a non-leader thread's exec takes over the leader) */
	char filename[TR_STR_MAX];
};

/* Counters of one trace slot on one CPU (map tr_counters: slot -> struct tr_slot_counters). */
struct tr_counters {
	__u64 records;		/* records written to the ring buffer */
	__u64 ringbuf_full;	/* records lost because the ring buffer had no room */
	__u64 truncated;	/* records written with TR_F_TRUNCATED */
	__u64 nested;		/* hook calls not recorded: they interrupted a record in progress */
};

/* Value of the traced-task map (key: tgid). */
struct tr_task {
	__u32 root;		/* tgid of the process user space asked to trace */
	__u16 depth;		/* forks between it and the root (saturates) */
	__u16 slot;		/* the trace it belongs to: its ring buffer and counters (< TR_SLOTS) */
};

#endif
