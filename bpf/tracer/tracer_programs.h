/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The tracer's programs that are not hooks: raw syscall enter/exit of traced tasks (the context of hook
 * events), fork following, exec and exit. Included once, at the end of tracer_core.h, whose maps, filter,
 * record header and counters they use.
 */
#ifndef TRACER_PROGRAMS_H
#define TRACER_PROGRAMS_H

/*
 * Reserves a fixed-size record in the ring of trace slot `slot`, with this CPU's state into `*s`; counts a full
 * ring.
 */
static __always_inline void *tr_reserve(__u32 slot, void **ring, struct tr_scratch **s, __u32 size)
{
	void *r;

	*s = tr_cpu_state();
	*ring = tr_slot_ring(slot);
	if (!*s || !*ring)
		return NULL;
	r = bpf_ringbuf_reserve(*ring, size, 0);
	if (!r)
		tr_count(slot, (*s)->cpu, ringbuf_full);
	return r;
}

static __always_inline void tr_submit(void *r, void *ring, struct tr_scratch *s, __u32 slot)
{
	bpf_ringbuf_submit(r, tr_wakeup(ring, s, slot));
	tr_count(slot, s->cpu, records);
}

/* The trace slot a syscall record is for; -1 when syscall records are off or the task is not traced. */
static __always_inline int tr_syscall_slot(struct task_struct *task)
{
	return tr_syscalls ? tr_traced_slot(task->tgid) : -1;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(tr_sys_enter, struct pt_regs *regs, long nr)
{
	struct task_struct *task = bpf_get_current_task_btf();
	int slot = tr_syscall_slot(task);
	struct tr_sys_enter *r;
	void *ring;
	struct tr_scratch *s;

	if (slot < 0 || !(r = tr_reserve(slot, &ring, &s, sizeof(*r))))
		return 0;
	tr_fill_hdr(&r->hdr, task, s->cpu, TR_KIND_SYS_ENTER, (__u16)nr, 0);
	r->hdr.size = sizeof(*r);
	r->nr = nr;
#if defined(__TARGET_ARCH_x86)
	/*
	 * The x86_64 syscall convention (r10, not rcx, for the 4th); libbpf 1.1 has no 6th-argument macro.
	 * regs is a BTF pointer of tp_btf: plain loads (CO-RE relocated) instead of a helper call per register,
	 * which this program pays on every syscall of a traced process.
	 */
	r->args[0] = regs->di;
	r->args[1] = regs->si;
	r->args[2] = regs->dx;
	r->args[3] = regs->r10;
	r->args[4] = regs->r8;
	r->args[5] = regs->r9;
#else
#error "the tracer's syscall enter record only knows x86_64 registers"
#endif
	tr_submit(r, ring, s, slot);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(tr_sys_exit, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	int slot = tr_syscall_slot(task);
	struct tr_sys_exit *r;
	void *ring;
	struct tr_scratch *s;

	if (slot < 0 || !(r = tr_reserve(slot, &ring, &s, sizeof(*r))))
		return 0;
	tr_fill_hdr(&r->hdr, task, s->cpu, TR_KIND_SYS_EXIT, 0, 0);
	r->hdr.size = sizeof(*r);
#if defined(__TARGET_ARCH_x86)
	/* The syscall number survives in orig_ax; ax already holds the return value. */
	r->nr = regs->orig_ax;
#else
#error "the tracer's syscall exit record only knows x86_64 registers"
#endif
	r->hdr.id = (__u16)r->nr;
	r->ret = ret;
	tr_submit(r, ring, s, slot);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(tr_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	int slot = tr_traced_slot(ptgid);
	struct tr_task *pt, ct;
	struct tr_fork *r;
	bool followed = false;
	void *ring;
	struct tr_scratch *s;

	if (slot < 0)
		return 0;
	if (tr_follow_forks && ctgid != ptgid) {
		pt = bpf_map_lookup_elem(&tr_traced, &ptgid);
		ct.root = pt ? pt->root : ptgid;
		ct.depth = !pt ? 1 : pt->depth < 0xffff ? pt->depth + 1 : pt->depth;
		ct.slot = slot;
		/*
		 * The child's tgid is new: an entry under it can only be a dead process's that nothing took out. The
		 * flag goes last: it is what the filter asks (the child runs only once the fork is done).
		 */
		followed = bpf_map_update_elem(&tr_traced, &ctgid, &ct, BPF_ANY) == 0;
		if (followed)
			tr_set_maybe(ctgid, slot + 1);
	}
	r = tr_reserve(slot, &ring, &s, sizeof(*r));
	if (!r)
		return 0;
	tr_fill_hdr(&r->hdr, bpf_get_current_task_btf(), s->cpu, TR_KIND_FORK, 0, 0);
	r->hdr.size = sizeof(*r);
	r->child_pid = BPF_CORE_READ(child, pid);
	r->child_tgid = ctgid;
	r->thread = ctgid == ptgid;
	r->followed = followed;
	tr_submit(r, ring, s, slot);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(tr_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	int slot = tr_traced_slot(BPF_CORE_READ(p, tgid));
	struct tr_exec *r;
	void *ring;
	struct tr_scratch *s;

	if (slot < 0)
		return 0;
	r = tr_reserve(slot, &ring, &s, sizeof(*r));
	if (!r)
		return 0;
	tr_fill_hdr(&r->hdr, bpf_get_current_task_btf(), s->cpu, TR_KIND_EXEC, 0, 0);
	r->hdr.size = sizeof(*r);
	r->old_pid = old_pid;
	if (bpf_probe_read_kernel_str(r->filename, sizeof(r->filename), BPF_CORE_READ(bprm, filename)) < 0)
		r->filename[0] = 0;
	tr_submit(r, ring, s, slot);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(tr_exit, struct task_struct *p)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);
	int slot = tr_traced_slot(tgid);
	struct tr_exit *r;
	bool group_dead;
	void *ring;
	struct tr_scratch *s;

	if (slot < 0)
		return 0;
	/* The tracepoint fires after do_exit() dropped signal->live (6.1 and 6.18 alike). */
	group_dead = BPF_CORE_READ(p, signal, live.counter) == 0;
	r = tr_reserve(slot, &ring, &s, sizeof(*r));
	if (r) {
		tr_fill_hdr(&r->hdr, bpf_get_current_task_btf(), s->cpu, TR_KIND_EXIT, 0, 0);
		r->hdr.size = sizeof(*r);
		r->exit_code = BPF_CORE_READ(p, exit_code);
		r->group_dead = group_dead;
		tr_submit(r, ring, s, slot);
	}
	if (group_dead) {
		bpf_map_delete_elem(&tr_traced, &tgid);
		tr_set_maybe(tgid, 0);
	}
	return 0;
}

#endif
