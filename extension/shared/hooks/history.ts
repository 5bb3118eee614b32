// Hooks that exist on some kernels and not others, so that a hook missing on the target can be told
// apart from a typo. The lists are the difference between the two reference kernels this project is
// tested on (Debian's 6.1.192 and 6.18.44), read from their BTF; renames are the successor hooks that
// took over the same call site.

export interface HookHistory {
  /** Reference kernels the hook was seen on. */
  readonly seenOn: string;
  /** Reference kernels it is absent from. */
  readonly absentOn: string;
  /** The hook that replaced it, when it was renamed or reshaped. */
  readonly replacedBy?: string;
}

const OLD = { seenOn: '6.1', absentOn: '6.18' } as const;
const NEW = { seenOn: '6.18', absentOn: '6.1' } as const;

const REPLACED: Record<string, string> = {
  bpf_map_alloc_security: 'bpf_map_create',
  bpf_map_free_security: 'bpf_map_free',
  bpf_prog_alloc_security: 'bpf_prog_load',
  bpf_prog_free_security: 'bpf_prog_free',
  current_getsecid_subj: 'current_getlsmprop_subj',
  task_getsecid_obj: 'task_getlsmprop_obj',
  inode_getsecid: 'inode_getlsmprop',
  ipc_getsecid: 'ipc_getlsmprop',
};

const ONLY_OLD = `bpf_map_alloc_security bpf_map_free_security bpf_prog_alloc_security bpf_prog_free_security
  current_getsecid_subj inode_getsecid ipc_getsecid key_free perf_event_free task_getsecid_obj tun_dev_free_security`;

const ONLY_NEW = `backing_file_alloc backing_file_free bdev_alloc_security bdev_free_security bdev_setintegrity
  bpf_map_create bpf_map_free bpf_prog_free bpf_prog_load bpf_token_capable bpf_token_cmd bpf_token_create
  bpf_token_free cred_getlsmprop current_getlsmprop_subj file_post_open file_release file_truncate getselfattr
  initramfs_populated inode_file_getattr inode_file_setattr inode_free_security_rcu inode_get_acl inode_getlsmprop
  inode_post_create_tmpfile inode_post_remove_acl inode_post_removexattr inode_post_set_acl inode_post_setattr
  inode_remove_acl inode_set_acl inode_setintegrity inode_xattr_skipcap ipc_getlsmprop key_post_create_or_update
  lsmprop_to_secctx mmap_backing_file mptcp_add_subflow path_post_mknod setselfattr task_getlsmprop_obj uring_allowed`;

const HISTORY = new Map<string, HookHistory>([
  ...ONLY_OLD.split(/\s+/).filter(Boolean).map((n): [string, HookHistory] => [n, REPLACED[n] ? { ...OLD, replacedBy: REPLACED[n] } : OLD]),
  ...ONLY_NEW.split(/\s+/).filter(Boolean).map((n): [string, HookHistory] => [n, NEW]),
]);

/** What is known about a hook that the current kernel lacks, or undefined for a name no kernel had. */
export function hookHistory(name: string): HookHistory | undefined {
  return HISTORY.get(name);
}
