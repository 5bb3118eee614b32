// What BTF cannot say about a hook: whether a BPF program on it may sleep (`lsm.s/`), whether the
// kernel refuses BPF programs on it, and which int hooks are really yes/no answers.
//
// In the kernel these are BTF id sets in kernel/bpf/bpf_lsm.c (sleepable_lsm_hooks,
// bpf_lsm_disabled_hooks, bool_lsm_hooks). They are compiled into the image's .BTF_ids section but
// not into /sys/kernel/btf/vmlinux, so they are kept here as tables keyed by the kernel version that
// changed them. Each entry says where the fact comes from. A hook that a kernel does not have is
// never looked up, so entries for renamed or removed hooks only need the version of the change when
// the hook itself lives on.
//
// Verified by test/unit/catalog.test.ts against the .BTF_ids sets compiled into Debian's images of
// 6.1.192 (linux-image-amd64) and 6.12.117 (linux-image-6.12-amd64): every sleepable, disabled and
// bool hook of those kernels. Entries after 6.12 follow mainline bpf_lsm.c and are marked tentative
// where the exact release is not pinned.
import { compareKernelVersions, formatKernelVersion, KernelVersion, kv } from './kernelVersion';

export interface VersionRule {
  readonly hook: string;
  /** First mainline version where the rule holds. */
  readonly since: KernelVersion;
  /** First mainline version where it no longer holds. */
  readonly until?: KernelVersion;
  /** Stable releases that took the change earlier: within each one's series the rule holds from that release on. */
  readonly backports?: readonly KernelVersion[];
  /** Stable releases that took the removal earlier: within each one's series the rule ends at that release. */
  readonly removedIn?: readonly KernelVersion[];
  readonly source: string;
}

const SLEEPABLE_BASE = 'mainline kernel/bpf/bpf_lsm.c sleepable_lsm_hooks (sleepable LSM programs arrived in 5.11)';

function rules(names: string, since: string, source: string, extra: Partial<VersionRule> = {}): VersionRule[] {
  return names
    .split(/\s+/)
    .filter(Boolean)
    .map((hook) => ({ hook, since: kv(since), source, ...extra }));
}

/** Hooks whose BPF programs may be sleepable (`SEC("lsm.s/...")`). */
export const SLEEPABLE_RULES: readonly VersionRule[] = [
  ...rules(
    `bpf bpf_map bpf_map_alloc_security bpf_map_free_security bpf_prog bprm_check_security
     bprm_committed_creds bprm_committing_creds bprm_creds_for_exec bprm_creds_from_file capget capset
     cred_prepare file_ioctl file_lock file_open file_receive inode_create
     inode_free_security inode_getattr inode_getxattr inode_mknod inode_need_killpriv inode_post_setxattr
     inode_readlink inode_rename inode_rmdir inode_setattr inode_setxattr inode_symlink inode_unlink
     kernel_module_request kernel_read_file kernfs_init_security key_free mmap_file netlink_send
     path_notify release_secctx sb_alloc_security sb_eat_lsm_opts sb_kern_mount sb_mount sb_remount
     sb_set_mnt_opts sb_show_options sb_statfs sb_umount settime socket_accept socket_bind
     socket_connect socket_create socket_getpeername socket_getpeersec_dgram socket_getsockname
     socket_getsockopt socket_listen socket_post_create socket_recvmsg socket_sendmsg socket_shutdown
     socket_socketpair syslog task_alloc task_getsecid current_getsecid_subj task_getsecid_obj
     task_prctl task_setscheduler`,
    '5.11',
    SLEEPABLE_BASE,
  ),
  // Removed from the set in mainline after 6.1 and taken into 6.1.y: absent from Debian 6.1.192's set.
  ...rules('task_to_inode', '5.11', `${SLEEPABLE_BASE}; dropped later`, { until: kv('6.2'), removedIn: [kv('6.1.192')] }),
  // In 6.1.192's set, absent from 6.12.117's; the release in between that dropped it is not pinned.
  ...rules('inet_conn_established', '5.11', `${SLEEPABLE_BASE}; absent from 6.12 (tentative: dropped by 6.12)`, { until: kv('6.12') }),
  ...rules('userns_create', '6.1', 'added to sleepable_lsm_hooks together with the hook (6.1)'),
  // The 6.9 rework of the BPF hooks (BPF token) renamed the map/prog hooks and added token hooks.
  // bpf_prog_free is not among them (checked on 6.12.117).
  ...rules(
    'bpf_map_create bpf_map_free bpf_prog_load bpf_token_create bpf_token_free bpf_token_cmd bpf_token_capable',
    '6.9',
    'sleepable_lsm_hooks after the BPF token hooks landed (6.9)',
  ),
  ...rules('file_post_open', '6.9', 'sleepable_lsm_hooks after IMA/EVM became LSMs (6.9)'),
  ...rules('inode_removexattr inode_post_removexattr', '6.13', 'sleepable_lsm_hooks in mainline after 6.12 (absent from 6.12.117; tentative: 6.13)'),
  ...rules(
    'path_unlink path_mkdir path_rmdir path_truncate path_symlink path_link path_rename path_chmod path_chown',
    '6.12',
    'sleepable_lsm_hooks: path hooks made sleepable (CONFIG_SECURITY_PATH), mainline 6.12',
  ),
  ...rules('bdev_alloc_security bdev_setintegrity', '6.13', 'sleepable_lsm_hooks: block device hooks, after 6.12 (absent from 6.12.117; tentative: 6.13)'),
];

/** Hooks the verifier refuses for BPF programs ("attach_btf_id ... points to disabled hook"). */
export const DISABLED_RULES: readonly VersionRule[] = [
  ...rules(
    `vm_enough_memory inode_need_killpriv inode_getsecurity inode_listsecurity inode_copy_up_xattr
     getprocattr setprocattr key_getsecurity audit_rule_match ismaclabel`,
    '6.1',
    'bpf_lsm_disabled_hooks, introduced in 6.1: their return values are not 0/-errno or they fill buffers BPF cannot',
  ),
  ...rules('getselfattr', '6.8', 'bpf_lsm_disabled_hooks: disabled from the day the hook was added (6.8)'),
  ...rules('xfrm_decode_session', '6.10', 'bpf_lsm_disabled_hooks (CONFIG_SECURITY_NETWORK_XFRM); mainline, and in 6.1.y by 6.1.192 (Debian)', {
    backports: [kv('6.1.192')],
  }),
  ...rules('file_alloc_security', '6.19', 'bpf_lsm_disabled_hooks in bpf-next after 6.18 (tentative version)'),
];

/** Int hooks whose result is a 0/1 answer, not 0/-errno (bool_lsm_hooks, enforced by the verifier since 6.12). */
export const BOOL_RESULT_RULES: readonly VersionRule[] = rules(
  'xfrm_state_pol_flow_match audit_rule_known inode_xattr_skipcap',
  '6.12',
  'bool_lsm_hooks in kernel/bpf/bpf_lsm.c (return value range checks, 6.12)',
);

/** Since this version the verifier checks that int hooks return 0 or a negative errno (bool hooks: 0 or 1). */
export const RETURN_RANGE_CHECKED_SINCE = kv('6.12');
/** Stable releases that took the return range check earlier (none known; a kernel with it has bpf_lsm_get_retval_range in BTF). */
export const RETURN_RANGE_BACKPORTS: readonly KernelVersion[] = [];
/** The largest errno a program may return negated (include/linux/err.h). */
export const MAX_ERRNO = 4095;

/**
 * Functions whose presence in a kernel's BTF proves a minimum version, for BTF that comes without a
 * version (a raw BTF file). bpf_lsm_get_retval_range is the return range check itself.
 */
export const BTF_VERSION_MARKERS: ReadonlyArray<{ readonly func: string; readonly since: KernelVersion }> = [
  { func: 'bpf_lsm_userns_create', since: kv('6.1') },
  { func: 'bpf_lsm_getselfattr', since: kv('6.8') },
  { func: 'bpf_lsm_bpf_token_create', since: kv('6.9') },
  { func: 'bpf_lsm_get_retval_range', since: kv('6.12') },
];

/** Whether a rule holds, and whether the kernel version is known well enough to be sure. */
export interface RuleVerdict {
  readonly rule?: VersionRule;
  readonly holds: boolean;
  /** False when the version is unknown and the answer depends on it. */
  readonly certain: boolean;
  /** For an uncertain verdict: `from 6.12 on` (or `until 6.12`), for messages. */
  readonly when?: string;
}

/**
 * Like ruleFor, for a kernel whose version may be unknown: `atLeast` is what its BTF proves
 * (BTF_VERSION_MARKERS). The verdict is certain when every version from `atLeast` on agrees.
 */
export function ruleVerdict(table: readonly VersionRule[], hook: string, v: KernelVersion | undefined, atLeast?: KernelVersion): RuleVerdict {
  if (v !== undefined) {
    const rule = ruleFor(table, hook, v);
    return { rule, holds: rule !== undefined, certain: true };
  }
  const candidates = table.filter((r) => r.hook === hook);
  const newest = candidates.find((r) => r.until === undefined);
  if (candidates.length === 0) return { holds: false, certain: true };
  const stable = candidates.every((r) => !r.until && !r.backports?.length && !r.removedIn?.length && atLeast && compareKernelVersions(r.since, atLeast) <= 0);
  if (stable) return { rule: newest, holds: true, certain: true };
  const r = newest ?? candidates[0];
  const when = newest ? `from ${formatKernelVersion(r.since)} on` : `until ${r.until ? formatKernelVersion(r.until) : 'a later kernel'}`;
  return { rule: newest, holds: newest !== undefined, certain: false, when };
}

/**
 * Helpers the kernel gates on the hook rather than the program: bpf_d_path_allowed() accepts an LSM
 * program whose hook is in the sleepable set, sleepable or not.
 */
export const HOOK_GATED_HELPERS: ReadonlySet<string> = new Set(['bpf_d_path']);

/** Helpers only available to sleepable LSM programs (bpf_d_path: on sleepable hooks, see HOOK_GATED_HELPERS). */
export const SLEEPABLE_ONLY_HELPERS: Readonly<Record<string, string>> = {
  bpf_d_path: 'the kernel allows bpf_d_path in LSM programs on the hooks of its sleepable set (bpf_d_path_allowed checks the hook, not whether the program sleeps)',
  bpf_ima_inode_hash: 'IMA hashing may sleep: bpf_lsm_func_proto only offers it to sleepable programs',
  bpf_ima_file_hash: 'IMA hashing may sleep: bpf_lsm_func_proto only offers it to sleepable programs',
  bpf_copy_from_user: 'reading user memory may fault and sleep: only sleepable programs get this helper',
  bpf_copy_from_user_task: 'reading another task\'s user memory may sleep: only sleepable programs get this helper',
};

function holds(rule: VersionRule, v: KernelVersion): boolean {
  const inSeries = (list: readonly KernelVersion[] | undefined): KernelVersion | undefined =>
    list?.find((b) => b.major === v.major && b.minor === v.minor);
  let on = compareKernelVersions(v, rule.since) >= 0;
  const back = inSeries(rule.backports);
  if (!on && back && compareKernelVersions(v, back) >= 0) on = true;
  if (on && rule.until && compareKernelVersions(v, rule.until) >= 0) on = false;
  const removed = inSeries(rule.removedIn);
  if (on && removed && compareKernelVersions(v, removed) >= 0) on = false;
  return on;
}

/**
 * The rule for `hook` on kernel `v`, or undefined when none applies. With no version, the newest
 * state of the table is assumed (the caller says so to the user).
 */
export function ruleFor(table: readonly VersionRule[], hook: string, v: KernelVersion | undefined): VersionRule | undefined {
  const candidates = table.filter((r) => r.hook === hook);
  if (v === undefined) return candidates.find((r) => r.until === undefined);
  return candidates.find((r) => holds(r, v));
}
