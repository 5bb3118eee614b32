/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The tracer's programs that are not hooks: raw syscall enter/exit of traced tasks (the context of hook
 * events), fork following, exec and exit. Included once, at the end of tracer_core.h, whose maps, filter,
 * record header and counters they use.
 */
#ifndef TRACER_PROGRAMS_H
#define TRACER_PROGRAMS_H

/* Reserves a fixed-size record in the ring of the trace `t` belongs to; counts a full ring. */
static __always_inline void *tr_reserve(struct tr_task *t, void **ring, __u32 size)
{
	void *r;

	*ring = tr_slot_ring(t->slot);
	if (!*ring)
		return NULL;
	r = bpf_ringbuf_reserve(*ring, size, 0);
	if (!r)
		tr_count(t->slot, ringbuf_full);
	return r;
}

static __always_inline void tr_submit(void *r, void *ring, __u32 slot)
{
	bpf_ringbuf_submit(r, tr_wakeup(ring, NULL, slot));
	tr_count(slot, records);
}

/* The traced task a syscall record is for; NULL when syscall records are off or the task is not traced. */
static __always_inline struct tr_task *tr_syscall_task(struct task_struct *task)
{
	return tr_syscalls ? tr_traced_task(task->tgid) : NULL;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(tr_sys_enter, struct pt_regs *regs, long nr)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct tr_task *t = tr_syscall_task(task);
	struct tr_sys_enter *r;
	void *ring;

	if (!t || !(r = tr_reserve(t, &ring, sizeof(*r))))
		return 0;
	tr_fill_hdr(&r->hdr, task, TR_KIND_SYS_ENTER, (__u16)nr, 0);
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
	tr_submit(r, ring, t->slot);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(tr_sys_exit, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct tr_task *t = tr_syscall_task(task);
	struct tr_sys_exit *r;
	void *ring;

	if (!t || !(r = tr_reserve(t, &ring, sizeof(*r))))
		return 0;
	tr_fill_hdr(&r->hdr, task, TR_KIND_SYS_EXIT, 0, 0);
	r->hdr.size = sizeof(*r);
#if defined(__TARGET_ARCH_x86)
	/* The syscall number survives in orig_ax; ax already holds the return value. */
	r->nr = regs->orig_ax;
#else
#error "the tracer's syscall exit record only knows x86_64 registers"
#endif
	r->hdr.id = (__u16)r->nr;
	r->ret = ret;
	tr_submit(r, ring, t->slot);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(tr_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	struct tr_task *pt, ct;
	struct tr_fork *r;
	bool followed = false;
	void *ring;

	pt = tr_traced_task(ptgid);
	if (!pt)
		return 0;
	if (tr_follow_forks && ctgid != ptgid) {
		ct.root = pt->root;
		ct.depth = pt->depth < 0xffff ? pt->depth + 1 : pt->depth;
		ct.slot = pt->slot;
		tr_set_maybe(ctgid, 1);
		followed = bpf_map_update_elem(&tr_traced, &ctgid, &ct, BPF_NOEXIST) == 0;
	}
	r = tr_reserve(pt, &ring, sizeof(*r));
	if (!r)
		return 0;
	tr_fill_hdr(&r->hdr, bpf_get_current_task_btf(), TR_KIND_FORK, 0, 0);
	r->hdr.size = sizeof(*r);
	r->child_pid = BPF_CORE_READ(child, pid);
	r->child_tgid = ctgid;
	r->thread = ctgid == ptgid;
	r->followed = followed;
	tr_submit(r, ring, pt->slot);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(tr_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct tr_exec *r;
	struct tr_task *t;
	void *ring;

	t = tr_traced_task(BPF_CORE_READ(p, tgid));
	if (!t)
		return 0;
	r = tr_reserve(t, &ring, sizeof(*r));
	if (!r)
		return 0;
	tr_fill_hdr(&r->hdr, bpf_get_current_task_btf(), TR_KIND_EXEC, 0, 0);
	r->hdr.size = sizeof(*r);
	r->old_pid = old_pid;
	if (bpf_probe_read_kernel_str(r->filename, sizeof(r->filename), BPF_CORE_READ(bprm, filename)) < 0)
		r->filename[0] = 0;
	tr_submit(r, ring, t->slot);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(tr_exit, struct task_struct *p)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);
	struct tr_exit *r;
	struct tr_task *t;
	bool group_dead;
	void *ring;

	t = tr_traced_task(tgid);
	if (!t)
		return 0;
	/* The tracepoint fires after do_exit() dropped signal->live (6.1 and 6.18 alike). */
	group_dead = BPF_CORE_READ(p, signal, live.counter) == 0;
	r = tr_reserve(t, &ring, sizeof(*r));
	if (r) {
		tr_fill_hdr(&r->hdr, bpf_get_current_task_btf(), TR_KIND_EXIT, 0, 0);
		r->hdr.size = sizeof(*r);
		r->exit_code = BPF_CORE_READ(p, exit_code);
		r->group_dead = group_dead;
		tr_submit(r, ring, t->slot);
	}
	if (group_dead) {
		bpf_map_delete_elem(&tr_traced, &tgid);
		tr_set_maybe(tgid, 0);
	}
	return 0;
}

#endif
