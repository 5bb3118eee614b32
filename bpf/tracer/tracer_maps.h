/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The maps a resident tracer shares between trace sessions, included by the generated tracer (through
 * tracer_core.h) and by tracer_maps.bpf.c, a maps-only object: a session that finds the tracer resident
 * opens that small object instead of the full one (seconds of libbpf work under TCG for ~230 programs),
 * and libbpf reuses the pinned maps because both objects declare them here, in the same shape.
 */
#ifndef TRACER_MAPS_H
#define TRACER_MAPS_H

#define TR_RING_BYTES (8 * 1024 * 1024)

/*
 * The ring buffer of the trace session that loaded (or reopened) the tracer. No program writes to it by
 * name: a session puts it into tr_rings at its slot, and records reach it through there. Every helper
 * session that opens the resident tracer gets a fresh one, so concurrent traces never read each other's.
 */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, TR_RING_BYTES);
} tr_events SEC(".maps");

/* Slot -> that trace's ring buffer (user space sets and clears its own slot). Shared. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, TR_SLOTS);
	__type(key, __u32);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_RINGBUF);
		__uint(max_entries, TR_RING_BYTES);
	});
} tr_rings SEC(".maps");

/* Processes being traced (key: tgid). User space adds the root; fork adds children; exit removes. Shared. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct tr_task);
} tr_traced SEC(".maps");

/*
 * tgid -> its trace slot + 1 while the process is traced, 0 otherwise, for tgids below TR_TGID_FLAGS (pid_max is
 * 32768 on small machines, up to 4M on large ones; above the array the programs ask tr_traced). Every hook and
 * syscall of every process on the target asks the filter first: an array lookup is inlined by the verifier (no
 * helper call, no hashing). For those tgids the flag is what the programs go by; tr_traced keeps the root and
 * depth that fork copies to a child, and is the list user space walks. So a flag is set after its process enters
 * tr_traced (user space for a trace's root, tr_fork for a followed child) and cleared before it leaves (tr_exit,
 * and user space wherever it takes processes out). One byte per element (each its own 8-byte slot): no
 * read-modify-write shared between user space and BPF. Shared.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TR_TGID_FLAGS);
	__type(key, __u32);
	__type(value, __u8);
} tr_maybe SEC(".maps");

/* One trace slot's counters, one struct per CPU (CPUs above TR_MAX_CPUS share, the adds are atomic). */
struct tr_slot_counters {
	struct tr_counters cpu[TR_MAX_CPUS];
};

/* Slot -> its counters; read by user space at any time. Shared. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TR_SLOTS);
	__type(key, __u32);
	__type(value, struct tr_slot_counters);
} tr_counters SEC(".maps");

#endif
