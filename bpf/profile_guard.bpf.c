// SPDX-License-Identifier: GPL-2.0-only
/*
 * Least-privilege profiles: a subject executable (by inode and device) and, when the profile says so,
 * what it starts, may only exec, open and connect to what its rules list (allow-list), or may do anything
 * but what they list (deny-list). Enforce mode denies with EPERM, audit mode lets it happen; both send an
 * event. Rules live in maps pinned by name, so the loader rewrites them in place while the programs stay
 * attached through their pinned links.
 *
 * Which profile a task is under is task storage: set at bprm_check_security of a subject (so the
 * interpreter the kernel opens next is already confined), copied to new tasks at task_alloc, and
 * dropped at an exec of anything else unless the profile covers descendants. A task under no profile
 * costs one task-storage lookup per hook.
 *
 * Paths are matched by 64-bit FNV-1a of the resolved path (bpf_d_path, so lsm.s): the whole path for
 * exact rules, and the path up to each '/' for directory rules. The task's own /proc/<pid>/ is hashed as
 * /proc/self/; a prefix is looked up only at the depths the profile's directory rules have. Connects
 * are looked up in an LPM trie by profile and address; the value lists the protocols and ports of every
 * rule covering that prefix.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "profile_guard.h"

#define EPERM 1
#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL
#define FMODE_READ 0x1
#define FMODE_WRITE 0x2
#define FMODE_EXEC_FLAG 0x20 /* __FMODE_EXEC in f_flags: the open execve does */
#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define SOCK_DGRAM 2

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PROFILE_MAX);
	__type(key, __u32);
	__type(value, struct profile_conf);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bls_prof_profiles SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct profile_subject_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bls_prof_subjects SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, struct profile_path_key);
	__type(value, struct profile_path_rule);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bls_prof_paths SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 2048);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct profile_net_key);
	__type(value, struct profile_net_rule);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bls_prof_net SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bls_prof_events SEC(".maps");

struct task_profile {
	__u32 profile_plus1; /* 0: under no profile */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_profile);
} bls_prof_task SEC(".maps");

/* Anchors the event type in the object's BTF: the loader decodes events by member name from it. */
struct profile_event *profile_event_type __attribute__((unused));

/* Events lost because the ring was full. */
__u64 events_dropped;

struct walk {
	char path[PROFILE_PATH_MAX]; /* bpf_d_path's output, on the stack: the walk reads it without a lookup */
	__u64 hash;
	__u32 len;
	__u32 start;
	__u32 depth; /* '/' seen so far */
	__u32 dirs;  /* depths with directory rules (profile_conf) */
	__u32 profile;
	__u32 prefix_kind;
	__u32 want;
	__u32 allow_list;
	__s32 rule;
	__u32 matched;
};

static __always_inline int path_rule_matches(struct walk *w, __u32 kind, __u64 hash)
{
	struct profile_path_key key = { .profile = w->profile, .kind = kind, .hash = hash };
	struct profile_path_rule *r = bpf_map_lookup_elem(&bls_prof_paths, &key);

	if (!r)
		return 0;
	if (w->allow_list ? (r->access & w->want) != w->want : !(r->access & w->want))
		return 0;
	w->matched = 1;
	w->rule = r->rule;
	return 1;
}

/* At a '/': a prefix lookup only when some directory rule of the profile ends at this depth. */
static __always_inline int dir_matches(struct walk *w)
{
	__u32 d = ++w->depth;

	if (!(w->dirs & (1U << (d > 32 ? 31 : d - 1))))
		return 0;
	return path_rule_matches(w, w->prefix_kind, w->hash);
}

static long walk_step(__u32 i, void *data)
{
	struct walk *w = data;
	__u32 at = w->start + i;
	unsigned char c;

	if (at >= w->len)
		return 1;
	c = w->path[at & (PROFILE_PATH_MAX - 1)];
	w->hash = (w->hash ^ c) * FNV_PRIME;
	if (c == '/' && dir_matches(w))
		return 1;
	return 0;
}

static __always_inline __u64 fnv_str(__u64 h, const char *s, int n)
{
	for (int i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * FNV_PRIME;
	return h;
}

/* "/proc/<own tgid>" at the start of the path: hash it as "/proc/self" and walk on from after the digits. */
static __always_inline void proc_self(struct walk *w)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 v = 0, j;

	if (w->len < 7 || w->path[0] != '/' || w->path[1] != 'p' || w->path[2] != 'r' || w->path[3] != 'o' ||
	    w->path[4] != 'c' || w->path[5] != '/')
		return;
	for (j = 6; j < 17; j++) {
		char c = w->path[j];

		if (c < '0' || c > '9')
			break;
		v = v * 10 + (c - '0');
	}
	if (j == 6 || v != tgid || (j < w->len && w->path[j] != '/'))
		return;
	w->hash = fnv_str(FNV_OFFSET, "/", 1);
	if (dir_matches(w))
		return;
	w->hash = fnv_str(w->hash, "proc/", 5);
	if (dir_matches(w))
		return;
	w->hash = fnv_str(w->hash, "self", 4);
	w->start = j;
}

static __always_inline void emit(__u32 profile, __u32 request, __u32 mode, __u32 access, __s32 rule, const char *path,
				 __u8 family, __u8 proto, __u16 port, const __u8 *addr)
{
	struct profile_event *e = bpf_ringbuf_reserve(&bls_prof_events, sizeof(*e), 0);

	if (!e) {
		__sync_fetch_and_add(&events_dropped, 1);
		return;
	}
	e->time_ns = bpf_ktime_get_boot_ns();
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->profile = profile;
	e->request = request;
	e->mode = mode;
	e->access = access;
	e->rule = rule;
	e->family = family;
	e->proto = proto;
	e->port = port;
	if (addr)
		__builtin_memcpy(e->addr, addr, 16);
	else
		__builtin_memset(e->addr, 0, 16);
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	if (path)
		bpf_probe_read_kernel_str(e->path, sizeof(e->path), path);
	else
		e->path[0] = 0;
	bpf_ringbuf_submit(e, 0);
}

/* The verdict of profile `profile` on a path: 0 or -EPERM; an event when it audits or denies. */
static __always_inline int check_path(__u32 profile, __u32 exact, __u32 prefix, struct path *path, __u32 want, __u32 request)
{
	struct profile_conf *conf = bpf_map_lookup_elem(&bls_prof_profiles, &profile);
	struct walk w;
	long len;
	int denied;

	if (!conf || conf->mode == PROFILE_OFF)
		return 0;
	__builtin_memset(&w, 0, sizeof(w));
	w.hash = FNV_OFFSET;
	w.profile = profile;
	w.prefix_kind = prefix;
	w.dirs = prefix == PROFILE_EXEC_PREFIX ? conf->exec_dirs : conf->file_dirs;
	w.want = want;
	w.rule = -1;
	w.allow_list = conf->default_deny;
	len = bpf_d_path(path, w.path, sizeof(w.path));
	if (len > 1) {
		w.len = len - 1;
		proc_self(&w);
		if (!w.matched && w.start < w.len)
			bpf_loop(w.len - w.start, walk_step, &w, 0);
		if (!w.matched)
			path_rule_matches(&w, exact, w.hash);
	} else {
		w.path[0] = 0;
	}
	denied = w.allow_list ? !w.matched : w.matched;
	if (!denied)
		return 0;
	emit(profile, request, conf->mode, want, w.matched ? w.rule : -1, w.path, 0, 0, 0, 0);
	return conf->mode == PROFILE_ENFORCE ? -EPERM : 0;
}

SEC("lsm/task_alloc")
int BPF_PROG(profile_fork, struct task_struct *task, unsigned long clone_flags, int ret)
{
	struct task_profile *parent, *child;

	if (ret)
		return ret;
	parent = bpf_task_storage_get(&bls_prof_task, bpf_get_current_task_btf(), 0, 0);
	if (!parent || !parent->profile_plus1)
		return 0;
	child = bpf_task_storage_get(&bls_prof_task, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (child)
		child->profile_plus1 = parent->profile_plus1;
	return 0;
}

SEC("lsm.s/bprm_check_security")
int BPF_PROG(profile_exec, struct linux_binprm *bprm, int ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct task_profile *tp;
	struct profile_subject_key sk = {};
	struct inode *inode;
	__u32 cur, *next;
	int verdict;

	if (ret)
		return ret;
	tp = bpf_task_storage_get(&bls_prof_task, task, 0, 0);
	cur = tp ? tp->profile_plus1 : 0;
	inode = bprm->file->f_inode;
	sk.ino = inode->i_ino;
	sk.dev = inode->i_sb->s_dev;
	next = bpf_map_lookup_elem(&bls_prof_subjects, &sk);
	if (!cur && !next)
		return 0;
	if (cur) {
		verdict = check_path(cur - 1, PROFILE_EXEC_EXACT, PROFILE_EXEC_PREFIX, &bprm->file->f_path, PROFILE_EXEC, PROFILE_REQ_EXEC);
		if (verdict)
			return verdict;
	}
	if (next) {
		__u32 profile = *next;

		tp = bpf_task_storage_get(&bls_prof_task, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (tp)
			tp->profile_plus1 = profile + 1;
	} else if (tp) {
		__u32 profile = cur - 1;
		struct profile_conf *conf = bpf_map_lookup_elem(&bls_prof_profiles, &profile);

		if (!conf || !conf->descendants)
			tp->profile_plus1 = 0;
	}
	return 0;
}

SEC("lsm.s/file_open")
int BPF_PROG(profile_open, struct file *file, int ret)
{
	struct task_profile *tp;
	__u32 want = 0;

	if (ret)
		return ret;
	tp = bpf_task_storage_get(&bls_prof_task, bpf_get_current_task_btf(), 0, 0);
	if (!tp || !tp->profile_plus1)
		return 0;
	/* The executable and its interpreter, opened by execve: judged by the exec rules. */
	if (file->f_flags & FMODE_EXEC_FLAG)
		return 0;
	if (file->f_mode & FMODE_READ)
		want |= PROFILE_READ;
	if (file->f_mode & FMODE_WRITE)
		want |= PROFILE_WRITE;
	if (!want)
		want = PROFILE_READ;
	return check_path(tp->profile_plus1 - 1, PROFILE_FILE_EXACT, PROFILE_FILE_PREFIX, &file->f_path, want, PROFILE_REQ_FILE);
}

SEC("lsm/socket_connect")
int BPF_PROG(profile_connect, struct socket *sock, struct sockaddr *address, int addrlen, int ret)
{
	struct profile_net_key key = {};
	struct profile_net_rule *r;
	struct profile_conf *conf;
	struct task_profile *tp;
	__u32 profile, matched = 0;
	__s32 rule = -1;
	__u16 family, port;
	__u8 proto;
	int i, denied;

	if (ret)
		return ret;
	tp = bpf_task_storage_get(&bls_prof_task, bpf_get_current_task_btf(), 0, 0);
	if (!tp || !tp->profile_plus1)
		return 0;
	profile = tp->profile_plus1 - 1;
	conf = bpf_map_lookup_elem(&bls_prof_profiles, &profile);
	if (!conf || conf->mode == PROFILE_OFF)
		return 0;
	if (bpf_probe_read_kernel(&family, sizeof(family), &address->sa_family))
		return 0;
	if (family == AF_INET && addrlen >= sizeof(struct sockaddr_in)) {
		struct sockaddr_in sa;

		if (bpf_probe_read_kernel(&sa, sizeof(sa), address))
			return 0;
		key.family = 4;
		key.prefixlen = 64 + 32;
		__builtin_memcpy(key.addr, &sa.sin_addr, 4);
		port = bpf_ntohs(sa.sin_port);
	} else if (family == AF_INET6 && addrlen >= sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 sa;

		if (bpf_probe_read_kernel(&sa, sizeof(sa), address))
			return 0;
		key.family = 6;
		key.prefixlen = 64 + 128;
		__builtin_memcpy(key.addr, &sa.sin6_addr, 16);
		port = bpf_ntohs(sa.sin6_port);
	} else {
		return 0;
	}
	key.profile = bpf_htonl(profile);
	proto = sock->type == SOCK_STREAM ? 1 : sock->type == SOCK_DGRAM ? 2 : 0;
	r = bpf_map_lookup_elem(&bls_prof_net, &key);
	if (r) {
		for (i = 0; i < PROFILE_PORTS_MAX; i++) {
			struct profile_port *p = &r->ports[i];

			if (i >= r->count)
				break;
			if ((p->proto == 0 || p->proto == proto) && (p->any_port || p->port == port)) {
				matched = 1;
				rule = p->rule;
				break;
			}
		}
	}
	denied = conf->default_deny ? !matched : matched;
	if (!denied)
		return 0;
	emit(profile, PROFILE_REQ_CONNECT, conf->mode, 0, rule, 0, key.family, proto, port, (const __u8 *)key.addr);
	return conf->mode == PROFILE_ENFORCE ? -EPERM : 0;
}
