/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * File paths into a record's tail: the walk of dentries and mounts up to the root (with the per-CPU path
 * cache of struct tr_scratch) and bpf_d_path where the hook allows it. Included once, by tracer_core.h, whose
 * record context, scratch map and tail helpers it uses.
 */
#ifndef TRACER_PATHS_H
#define TRACER_PATHS_H

/* State of a path walk, shared with the bpf_loop callback. */
struct tr_walk {
	struct tr_ctx *c;
	struct dentry *d;
	struct mount *mnt;
};

/* One step up: a mount crossing, or one component appended. 1 ends the walk. */
static long tr_walk_step(__u32 i, void *arg)
{
	struct tr_walk *w = arg;
	struct tr_ctx *c = w->c;
	/* Copies: BPF_CORE_READ(w->mnt, ...) would make w itself a CO-RE access on a type the kernel lacks. */
	struct dentry *d = w->d, *parent;
	struct mount *mnt = w->mnt;
	const unsigned char *name;
	__u32 off;
	long n;

	if (mnt && d == BPF_CORE_READ(mnt, mnt.mnt_root)) {
		struct mount *up = BPF_CORE_READ(mnt, mnt_parent);

		if (!up || up == mnt) {
			c->s->walk.done = 1;
			return 1;
		}
		w->d = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = up;
		return 0;
	}
	parent = BPF_CORE_READ(d, d_parent);
	if (!parent || d == parent) {
		c->s->walk.done = 1;
		return 1;
	}
	name = BPF_CORE_READ(d, d_name.name);
	off = c->s->walk.len;
	if (off > TR_REC_MAX - TR_STR_MAX) {
		c->flags |= TR_F_TRUNCATED;
		return 1;
	}
	n = bpf_probe_read_kernel_str(c->rec + off, TR_STR_MAX, name);
	if (n <= 0)
		return 1;
	c->s->walk.len = off + n;
	w->d = parent;
	return 0;
}

/* The rename and mount sequences into `seq` (rename in the low half); false while either is being written. */
static __always_inline bool tr_path_seqs(__u64 *seq)
{
	__u32 r = 1, m = 1;

	if (!tr_rename_lock || !tr_mount_lock)
		return false;
	bpf_probe_read_kernel(&r, sizeof(r), (const void *)tr_rename_lock);
	bpf_probe_read_kernel(&m, sizeof(m), (const void *)tr_mount_lock);
	*seq = ((__u64)m << 32) | r;
	return !((r | m) & 1);
}

/*
 * Dentry names from `d` up to the root, leaf first, each NUL-terminated. With a mount, the walk
 * crosses from a mount's root to its mount point in the parent mount (struct mount wraps the
 * vfsmount), which gives the full path in the caller's mount namespace view without bpf_d_path.
 * The steps run under bpf_loop (5.17+) so the verifier checks one step per call site, not
 * TR_PATH_DEPTH unrolled ones: the walk is in most hook programs and their load time adds up.
 * During the walk the tail's length lives in the scratch map, not in c->len on the stack: the verifier
 * knows a stack value exactly, and since 6.8 it checks a callback until its states converge, so each
 * step's longer length range was a new state. On the 6.12 VM that was 7.1 million instructions and
 * ~200 s of verification for the whole tracer; read back from the map, 0.2 million and 6 s.
 * A path this CPU walked since the last rename or mount change is copied from its struct tr_path_cache.
 */
static __noinline void tr_put_dentry_walk(struct tr_ctx *c, struct tr_str *slot, struct dentry *d,
					  struct vfsmount *vmnt)
{
	struct tr_walk w = { .c = c, .d = d, .mnt = NULL };
	struct tr_path_cache *pc;
	__u32 start = c->len, at, end, n, way = TR_PATH_WAYS, hash = 0;
	__u64 seq = 0, parent = 0, inode = 0;
	bool done;

	if (!d || !c->s)
		return;
	/* The entry by the leaf name's hash: d may be a BTF pointer here, on which the verifier allows no shift. */
	if (tr_path_seqs(&seq)) {
		hash = BPF_CORE_READ(d, d_name.hash);
		parent = (__u64)BPF_CORE_READ(d, d_parent);
		inode = (__u64)BPF_CORE_READ(d, d_inode);
		way = hash & (TR_PATH_WAYS - 1);
	}
	pc = &c->s->path[way & (TR_PATH_WAYS - 1)];
	n = pc->len;
	/* The record offset as the verifier needs it: masked after clang forgets what it knew of start. */
	at = start;
	barrier_var(at);
	at &= TR_REC_MAX - 1;
	/*
	 * Both copies move all TR_PATH_CACHE bytes (the scratch buffer has room past TR_REC_MAX): a constant size
	 * needs no bound the verifier has to follow through spills; bytes past the path are not part of the record.
	 */
	if (way < TR_PATH_WAYS && pc->dentry == (__u64)d && pc->mnt == (__u64)vmnt && pc->rename_seq == (__u32)seq &&
	    pc->mount_seq == (__u32)(seq >> 32) && pc->parent == parent && pc->inode == inode && pc->name_hash == hash &&
	    start <= TR_REC_MAX - TR_PATH_CACHE && n > 0 && n <= TR_PATH_CACHE &&
	    !bpf_probe_read_kernel(c->rec + at, TR_PATH_CACHE, pc->bytes)) {
		slot->off = start;
		slot->len = n;
		c->len = start + n;
		return;
	}
	if (vmnt)
		w.mnt = (struct mount *)((unsigned long)vmnt - bpf_core_field_offset(struct mount, mnt));
	c->s->walk.seq = seq;
	c->s->walk.parent = parent;
	c->s->walk.inode = inode;
	c->s->walk.name_hash = hash;
	c->s->walk.start = start;
	c->s->walk.len = start;
	c->s->walk.done = 0;
	c->s->walk.way = way;
	bpf_loop(TR_PATH_DEPTH, tr_walk_step, &w, 0);
	/*
	 * What follows reads what it needs back from the map, none of it from before the loop: each way into the
	 * loop above (a hit condition that failed, the sequences unreadable) left the verifier knowing a different
	 * range of start or a different entry, and it checked the rest once for each of them (10 times here).
	 */
	start = c->s->walk.start;
	end = c->s->walk.len;
	done = c->s->walk.done;
	if (end > TR_REC_MAX || end < start)
		return;
	c->len = end;
	if (end == start && !done)
		return;
	slot->off = start;
	slot->len = (end - start) | (done ? 0 : TR_STR_CUT);
	/*
	 * Kept for the next walk of this path when it reached the root. Under the sequences read before the walk:
	 * a rename or mount change during or after it makes them stale, so that no later walk takes this one.
	 */
	n = end - start;
	way = c->s->walk.way;
	if (way >= TR_PATH_WAYS || !done || n == 0 || n > TR_PATH_CACHE || (c->flags & TR_F_TRUNCATED))
		return;
	seq = c->s->walk.seq;
	pc = &c->s->path[way & (TR_PATH_WAYS - 1)];
	pc->dentry = 0;
	if (bpf_probe_read_kernel(pc->bytes, TR_PATH_CACHE, c->rec + (start & (TR_REC_MAX - 1))))
		return;
	pc->len = n;
	pc->rename_seq = (__u32)seq;
	pc->mount_seq = (__u32)(seq >> 32);
	pc->parent = c->s->walk.parent;
	pc->inode = c->s->walk.inode;
	pc->name_hash = c->s->walk.name_hash;
	pc->mnt = (__u64)vmnt;
	pc->dentry = (__u64)d;
}

/* The kernel's own full path of `path`; only hooks on the bpf_d_path allow-list may call this. */
static __noinline void tr_put_dpath(struct tr_ctx *c, struct tr_str *slot, __u8 *src, const struct path *path)
{
	__u32 off = c->len;
	long n;

	if (!path || !tr_room(c, TR_STR_MAX))
		return;
	n = bpf_d_path((struct path *)path, (char *)c->rec + (off & (TR_REC_MAX - 1)), TR_STR_MAX);
	if (n <= 0) {
		/* -ENAMETOOLONG and friends: fall back to the walk, which keeps the leaf end. */
		tr_put_dentry_walk(c, slot, BPF_CORE_READ(path, dentry), BPF_CORE_READ(path, mnt));
		*src = TR_PATH_MOUNTS;
		return;
	}
	slot->off = off;
	slot->len = n - 1;
	c->len = off + n;
	*src = TR_PATH_DPATH;
}

static __always_inline void tr_put_path_walk(struct tr_ctx *c, struct tr_str *slot, __u8 *src,
					     struct dentry *d, struct vfsmount *mnt)
{
	tr_put_dentry_walk(c, slot, d, mnt);
	*src = mnt ? TR_PATH_MOUNTS : TR_PATH_DENTRY;
}

#endif
