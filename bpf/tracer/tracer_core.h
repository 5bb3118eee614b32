/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The hand-written half of the generated tracer: maps, knobs, the record builder, string and path
 * copies shared by the generated readers, and (through tracer_programs.h) the programs that are not
 * hooks. Included once by the generated source, after vmlinux.h and libbpf headers.
 *
 * Every hook program costs the verifier on load, and ~230 of them are loaded at once, so the work
 * shared between them lives in small __noinline subprograms (verified per call site, but emitted
 * once per program) and the per-hook programs stay a few dozen instructions.
 */
#ifndef TRACER_CORE_H
#define TRACER_CORE_H

#include "tracer.h"
#include "tracer_maps.h"

char LICENSE[] SEC("license") = "GPL";

/* Set before load: follow fork/clone into children of traced processes. */
const volatile bool tr_follow_forks = true;
/* Set before load: record raw syscall enter/exit of traced tasks (the context of hook events). */
const volatile bool tr_syscalls = true;
/*
 * Set before load by the helper, from /proc/kallsyms: the kernel's rename_lock and mount_lock (seqlock_t,
 * whose first word is the sequence). 0 (unknown, e.g. addresses hidden) leaves the path cache off.
 */
const volatile __u64 tr_rename_lock = 0;
const volatile __u64 tr_mount_lock = 0;
/*
 * Set before load by the helper, from /proc/kallsyms: the address of the kernel's __per_cpu_offset table, and
 * the offset in each CPU's per-CPU area of __preempt_count or, on kernels that keep the count in struct
 * pcpu_hot (6.2 to 6.14), of pcpu_hot. 0 (unknown) leaves the interrupt test to the stack (tr_in_interrupt).
 */
const volatile __u64 tr_percpu_offsets = 0;
const volatile __u64 tr_preempt_count = 0;
const volatile __u64 tr_pcpu_hot = 0;

/* Keeps the record layouts in the object's BTF, where user space checks them against its decoder. */
struct tr_layout {
	struct tr_hdr hdr;
	struct tr_str str;
	struct tr_sys_enter sys_enter;
	struct tr_sys_exit sys_exit;
	struct tr_fork fork;
	struct tr_exit exit;
	struct tr_exec exec;
	struct tr_task task;
} *tr_layout_anchor;

/*
 * Recent path walks on this CPU (see tr_put_dentry_walk): a walk's output for a dentry and mount, valid while no
 * rename and no mount change happened anywhere since (the kernel's rename_lock and mount_lock sequences, which
 * d_path checks the same way). A file's records (open, then permission per read or write, then free) walk the
 * same path again and again. A few entries, chosen by the leaf name's hash: a copy from one file into another
 * (or a shell's fcntl on /dev/null between two reads) alternates between two paths.
 */
#define TR_PATH_CACHE 256
#define TR_PATH_WAYS 4
struct tr_path_cache {
	__u64 dentry;
	__u64 mnt;
	/*
	 * What the dentry was when it was walked: its parent, inode and name hash. A dentry freed (its file removed)
	 * and allocated again for another file has the same address and leaves both sequences alone; it was taken
	 * for the old file's path (seen once in a CI run: file_open of a new key.txt reported as a removed
	 * hello.txt). A dentry is only ever reused for another file, so one of these differs, short of a hash
	 * collision of two names in one directory on one inode; its ancestors cannot go while it lives.
	 */
	__u64 parent;
	__u64 inode;
	__u32 name_hash;
	__u32 rename_seq;
	__u32 mount_seq;
	__u32 len;
	__u8 bytes[TR_PATH_CACHE];
};

/*
 * A path walk's state kept in the scratch map rather than on the stack (see tr_put_dentry_walk): the tail's
 * length as the steps grow it, whether they reached the root, and what the walk began with.
 */
struct tr_walk_state {
	__u64 seq;
	/* The walked dentry's parent, inode and name hash, for its path cache entry (see struct tr_path_cache). */
	__u64 parent;
	__u64 inode;
	__u32 name_hash;
	__u32 start;
	__u32 len;
	__u32 done;
	/* The path cache entry the walk may fill, TR_PATH_WAYS when it may not. */
	__u32 way;
};

/* Where a hook record is built before it is copied into the ring buffer in one piece. */
struct tr_scratch {
	__u32 busy;
	/* This CPU's number and its preempt count's address (0: unknown), set by its first record (tr_cpu_state). */
	__u32 cpu_set;
	__u32 cpu;
	__u64 preempt_at;
	/* Records written on this CPU since the ring's fill level was last asked (see tr_wakeup). */
	__u32 unchecked;
	/* Bit per trace slot: this CPU woke that slot's consumer and has not seen its ring below the mark since. */
	__u32 woke;
	/* The running path walk's state (see tr_put_dentry_walk). */
	struct tr_walk_state walk;
	/* 8-byte aligned for the record header, and so that clang clears it in 8-byte stores (see tr_begin). */
	__u8 buf[TR_SCRATCH] __attribute__((aligned(8)));
	struct tr_path_cache path[TR_PATH_WAYS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tr_scratch);
} tr_scratch SEC(".maps");

/* State of one hook record while its arguments are read. */
struct tr_ctx {
	struct task_struct *task;
	struct tr_scratch *s;
	__u8 *rec;
	void *ring;
	/* This CPU's scratch (the per-CPU state; c->s is the same map value once a hook record holds its buffer). */
	struct tr_scratch *pcpu;
	__u32 len;
	__u32 flags;
	__u32 slot;
	__u32 cpu;
};

/*
 * Waking the consumer for every record costs a context switch per record on the target (and under TCG a
 * switch is dear): the helper was spending the guest's CPU on wakeups the traced program then lacked.
 * Records go in quietly until this much is waiting, then the consumer is woken; below it, the consumer's
 * own poll interval (tens of milliseconds) picks them up.
 */
#define TR_WAKEUP_BYTES (256 * 1024)
/*
 * Asking the ring how much is waiting cost ~0.55 us of a ~1.2 us syscall record in the 6.1 VM under TCG
 * while the helper drained the ring (a consumer that published its position once per drain instead of per
 * record did not make it cheaper). So each CPU asks once every this many records (at most
 * TR_WAKEUP_EVERY * TR_REC_MAX bytes in between, far below TR_RING_BYTES - TR_WAKEUP_BYTES).
 */
#define TR_WAKEUP_EVERY 32

/*
 * The consumer is woken once each time the ring fills past TR_WAKEUP_BYTES, not at every check while it
 * stays there: a consumer that is behind is awake anyway, and every forced wakeup is an interrupt (irq_work)
 * on the traced program's CPU. A wakeup this skips while the consumer sleeps is made up by its poll timeout.
 */
static __always_inline __u64 tr_wakeup(void *ring, struct tr_scratch *s, __u32 slot)
{
	__u32 bit = 1u << (slot & (TR_SLOTS - 1));

	if (++s->unchecked < TR_WAKEUP_EVERY)
		return BPF_RB_NO_WAKEUP;
	s->unchecked = 0;
	if (bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) < TR_WAKEUP_BYTES) {
		s->woke &= ~bit;
		return BPF_RB_NO_WAKEUP;
	}
	if (s->woke & bit)
		return BPF_RB_NO_WAKEUP;
	s->woke |= bit;
	return BPF_RB_FORCE_WAKEUP;
}

/* Counts one event of a trace slot on CPU `on`, the current one (field of struct tr_counters). */
#define tr_count(slot, on, field)                                                                    \
	do {                                                                                         \
		__u32 __slot = (slot);                                                               \
		struct tr_slot_counters *__sc = bpf_map_lookup_elem(&tr_counters, &__slot);          \
		if (__sc)                                                                            \
			__sync_fetch_and_add(&__sc->cpu[(on) & (TR_MAX_CPUS - 1)].field, 1);         \
	} while (0)

/*
 * The trace slot of process `tgid`, -1 when it is not traced. Below TR_TGID_FLAGS the tr_maybe flag says it
 * (an array lookup the verifier inlines); above, tr_traced (a hash lookup: ~80 ns a call in the 6.1 VM under
 * TCG against ~10 for the array, on every record).
 */
static __always_inline int tr_traced_slot(__u32 tgid)
{
	struct tr_task *t;

	if (tgid < TR_TGID_FLAGS) {
		__u8 *flag = bpf_map_lookup_elem(&tr_maybe, &tgid);

		return flag && *flag ? (*flag - 1) & (TR_SLOTS - 1) : -1;
	}
	t = bpf_map_lookup_elem(&tr_traced, &tgid);
	return t ? t->slot & (TR_SLOTS - 1) : -1;
}

/* Sets a process's tr_maybe flag to its trace slot + 1, or clears it with 0 (see tracer_maps.h). */
static __always_inline void tr_set_maybe(__u32 tgid, __u8 flag)
{
	__u8 *maybe;

	if (tgid >= TR_TGID_FLAGS)
		return;
	maybe = bpf_map_lookup_elem(&tr_maybe, &tgid);
	if (maybe)
		*maybe = flag;
}

/* The ring buffer of a trace slot; NULL once its session has gone (its records are then not written). */
static __always_inline void *tr_slot_ring(__u32 slot)
{
	return bpf_map_lookup_elem(&tr_rings, &slot);
}

/*
 * An LSM hook can run in interrupt context on the CPU a traced task happens to run on (softirq network
 * receive: socket_sock_rcv_skb; hard IRQs and NMIs are rarer). It then sees the traced task as current,
 * but the call is not the task's doing: it is neither recorded for the task nor counted as a nested drop
 * of its records. The kernel's per-CPU preempt count says so, and this reads it at the address tr_cpu_state
 * worked out from what the helper found in /proc/kallsyms (6.12 is among the kernels that keep it in struct
 * pcpu_hot). A ksym (extern __preempt_count __ksym) would be simpler, but for each program that refers to a
 * ksym variable the 6.1 verifier finds the per-CPU data section by scanning every type of the kernel's BTF:
 * ~2 ms a program under TCG, ~0.45 s of the tracer's cold load.
 * Without those addresses the test falls back to the stack: the program's frame outside the task's stack
 * means an interrupt stack (x86_64 serves IRQs, softirqs and NMIs on stacks of their own). That misses an
 * interrupt taken in user mode, which runs on the (empty) task stack, softirqs on its way out included.
 * TR_THREAD_SIZE is the kernel's THREAD_SIZE (the generator sets a KASAN kernel's larger one).
 */
#ifndef TR_THREAD_SIZE
#define TR_THREAD_SIZE 16384
#endif
/* NMI_MASK | HARDIRQ_MASK | SOFTIRQ_OFFSET: serving an NMI, a hard IRQ or a softirq (not just BHs off). */
#define TR_INTERRUPT_MASK 0x00ff0100

struct pcpu_hot___tr {
	int preempt_count;
} __attribute__((preserve_access_index));

/* __preempt_count's offset in a CPU's per-CPU area, 0 when the helper could not tell. */
static __always_inline __u64 tr_preempt_count_offset(void)
{
	if (tr_preempt_count)
		return tr_preempt_count;
	if (tr_pcpu_hot && bpf_core_field_exists(struct pcpu_hot___tr, preempt_count))
		return tr_pcpu_hot + bpf_core_field_offset(struct pcpu_hot___tr, preempt_count);
	return 0;
}

/*
 * This CPU's scratch, with the CPU's number and the address of its preempt count filled in by its first record:
 * both stay what they are for the CPU (programs run with migration off, and the per-CPU offsets are fixed at
 * boot), so a record then needs no bpf_get_smp_processor_id call and one probe read for the interrupt test.
 */
static __always_inline struct tr_scratch *tr_cpu_state(void)
{
	__u32 zero = 0;
	struct tr_scratch *s = bpf_map_lookup_elem(&tr_scratch, &zero);
	__u64 offset, base = 0;

	if (!s || s->cpu_set)
		return s;
	s->cpu = bpf_get_smp_processor_id();
	offset = tr_preempt_count_offset();
	s->preempt_at = 0;
	if (tr_percpu_offsets && offset &&
	    !bpf_probe_read_kernel(&base, sizeof(base), (const void *)(tr_percpu_offsets + (__u64)s->cpu * 8)) && base)
		s->preempt_at = base + offset;
	s->cpu_set = 1;
	return s;
}

static __always_inline bool tr_in_interrupt(struct task_struct *task, struct tr_scratch *s)
{
	unsigned long lo, hi, at;
	char here;

	if (s->preempt_at) {
		__u32 count = 0;

		if (!bpf_probe_read_kernel(&count, sizeof(count), (const void *)s->preempt_at))
			return count & TR_INTERRUPT_MASK;
	}
	lo = (unsigned long)task->stack;
	hi = lo + TR_THREAD_SIZE;
	/*
	 * Two comparisons of the frame's address, not the subtraction clang would fold them into: the verifier
	 * allows a privileged program to compare a stack pointer with a number, not to subtract one from it.
	 */
	at = (unsigned long)&here;
	barrier_var(at);
	barrier_var(hi);
	return at < lo || at >= hi;
}

/*
 * The header of a record of `task`, the current task as bpf_get_current_task_btf() gives it, on CPU `cpu`:
 * its ids and comm are plain loads through that BTF pointer. bpf_get_current_pid_tgid and
 * bpf_get_current_comm were a helper call each, and under TCG a call costs more than the loads (see the trace
 * bench's header). task->comm is NUL-padded to its 16 bytes (__set_task_comm), so copying all of it equals
 * the helper.
 */
static __always_inline void tr_fill_hdr(struct tr_hdr *h, struct task_struct *task, __u32 cpu, __u16 kind,
					__u16 id, __s32 ret)
{
	const __u64 *comm = (const __u64 *)task->comm;

	h->time_ns = bpf_ktime_get_ns();
	h->pid = task->pid;
	h->tgid = task->tgid;
	h->cpu = cpu;
	h->kind = kind;
	h->id = id;
	h->flags = 0;
	h->ret = ret;
	((__u64 *)h->comm)[0] = comm[0];
	((__u64 *)h->comm)[1] = comm[1];
}

/*
 * The trace slot and ring buffer of the current task's records into `c`; false when the task is not traced,
 * when the call runs in interrupt context (not the task's doing), or when its trace has gone.
 */
static __always_inline bool tr_begin_task(struct tr_ctx *c)
{
	struct task_struct *task = bpf_get_current_task_btf();
	int slot = tr_traced_slot(task->tgid);
	struct tr_scratch *s;

	if (slot < 0 || !(s = tr_cpu_state()) || tr_in_interrupt(task, s))
		return false;
	c->task = task;
	c->pcpu = s;
	c->cpu = s->cpu;
	c->slot = slot;
	c->ring = tr_slot_ring(c->slot);
	return c->ring != NULL;
}

/*
 * Starts a hook record of `fixed` bytes (header plus the hook's argument struct, a constant).
 * False when the current process is not traced, when the call runs in interrupt context (not the
 * task's doing), or when it interrupted another record on the same CPU: the scratch buffer is in use,
 * so the call is only counted.
 */
static __always_inline bool tr_begin(struct tr_ctx *c, __u16 hook, __s32 ret, __u32 fixed)
{
	struct tr_scratch *s;

	if (!tr_begin_task(c))
		return false;
	s = c->pcpu;
	if (s->busy) {
		tr_count(c->slot, c->cpu, nested);
		return false;
	}
	s->busy = 1;
	/*
	 * Readers skip absent values, so the argument area must not keep the previous record's bytes. clang
	 * expands the clear into stores as wide as it knows the buffer to be aligned: one per byte on a __u8
	 * pointer, one per 8 bytes here (fewer instructions to verify at load and to run).
	 */
	__builtin_memset(s->buf, 0, fixed);
	tr_fill_hdr((struct tr_hdr *)s->buf, c->task, c->cpu, TR_KIND_HOOK, hook, ret);
	c->s = s;
	c->rec = s->buf;
	c->len = fixed;
	c->flags = 0;
	return true;
}

static __always_inline void tr_end(struct tr_ctx *c)
{
	struct tr_hdr *h = (struct tr_hdr *)c->rec;
	__u32 n = c->len;

	if (n > TR_REC_MAX)
		n = TR_REC_MAX;
	h->size = n;
	h->flags = c->flags;
	if (c->flags & TR_F_TRUNCATED)
		tr_count(c->slot, c->cpu, truncated);
	if (bpf_ringbuf_output(c->ring, c->rec, n, tr_wakeup(c->ring, c->s, c->slot)))
		tr_count(c->slot, c->cpu, ringbuf_full);
	else
		tr_count(c->slot, c->cpu, records);
	c->s->busy = 0;
}

/*
 * A hook record with no tail (no argument appends a string) is written in place in the ring buffer:
 * no scratch buffer, no copy. Nested calls need no guard either, each holds its own reservation.
 */
static __always_inline bool tr_begin_fixed(struct tr_ctx *c, __u16 hook, __s32 ret, __u32 fixed)
{
	__u8 *rec;

	if (!tr_begin_task(c))
		return false;
	rec = bpf_ringbuf_reserve(c->ring, fixed, 0);
	if (!rec) {
		tr_count(c->slot, c->cpu, ringbuf_full);
		return false;
	}
	/* Ring records are 8-byte aligned: cleared in 8-byte stores (see tr_begin). */
	__builtin_memset((__u64 *)rec, 0, fixed);
	tr_fill_hdr((struct tr_hdr *)rec, c->task, c->cpu, TR_KIND_HOOK, hook, ret);
	((struct tr_hdr *)rec)->size = fixed;
	c->s = NULL;
	c->rec = rec;
	c->len = fixed;
	c->flags = 0;
	return true;
}

static __always_inline void tr_end_fixed(struct tr_ctx *c)
{
	bpf_ringbuf_submit(c->rec, tr_wakeup(c->ring, c->pcpu, c->slot));
	tr_count(c->slot, c->cpu, records);
}

/* Room for `max` more bytes in the tail? Otherwise the record is marked truncated. */
static __always_inline bool tr_room(struct tr_ctx *c, __u32 max)
{
	if (c->len > TR_REC_MAX - max) {
		c->flags |= TR_F_TRUNCATED;
		return false;
	}
	return true;
}

/* Appends a NUL-terminated kernel string of at most TR_STR_MAX bytes to the tail. */
static __noinline void tr_put_kstr(struct tr_ctx *c, struct tr_str *slot, const char *src)
{
	__u32 off = c->len;
	long n;

	if (!src || !tr_room(c, TR_STR_MAX))
		return;
	n = bpf_probe_read_kernel_str(c->rec + (off & (TR_REC_MAX - 1)), TR_STR_MAX, src);
	if (n <= 0)
		return;
	slot->off = off;
	/* A full buffer means the string may have gone on. */
	slot->len = (n - 1) | (n == TR_STR_MAX ? TR_STR_CUT : 0);
	c->len = off + n;
}

/* Appends `len` raw bytes (at most 128) to the tail: socket addresses, which may hold NULs. */
static __noinline void tr_put_bytes(struct tr_ctx *c, struct tr_str *slot, const void *src, __u32 len)
{
	__u32 off = c->len;

	if (!src || len == 0 || !tr_room(c, 128))
		return;
	len &= 127;
	if (bpf_probe_read_kernel(c->rec + (off & (TR_REC_MAX - 1)), len, src))
		return;
	slot->off = off;
	slot->len = len;
	c->len = off + len;
}

/* Paths: the dentry walk with its cache, and bpf_d_path. */
#include "tracer_paths.h"

/* A kuid_t/kgid_t/kernel_cap_t sized read where the struct's shape differs between kernels. */
static __always_inline __u64 tr_read_u64(const void *p)
{
	__u64 v = 0;

	bpf_probe_read_kernel(&v, sizeof(v), p);
	return v;
}

static __always_inline __u32 tr_read_u32(const void *p)
{
	__u32 v = 0;

	bpf_probe_read_kernel(&v, sizeof(v), p);
	return v;
}

/* Inode change time in seconds: a timespec64 until 6.6, split seconds/nanoseconds fields since 6.11. */
struct inode___ts61 {
	struct timespec64 i_ctime;
} __attribute__((preserve_access_index));
struct inode___ts66 {
	struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));
struct inode___ts611 {
	time64_t i_ctime_sec;
} __attribute__((preserve_access_index));

static __always_inline __s64 tr_inode_ctime(const struct inode *v)
{
	if (bpf_core_field_exists(struct inode___ts611, i_ctime_sec))
		return BPF_CORE_READ((struct inode___ts611 *)v, i_ctime_sec);
	if (bpf_core_field_exists(struct inode___ts66, __i_ctime))
		return BPF_CORE_READ((struct inode___ts66 *)v, __i_ctime.tv_sec);
	if (bpf_core_field_exists(struct inode___ts61, i_ctime))
		return BPF_CORE_READ((struct inode___ts61 *)v, i_ctime.tv_sec);
	return 0;
}

/* The programs that are not hooks: syscall context, fork following, exec and exit. */
#include "tracer_programs.h"

#endif
