// Hook categories: the kernel object a hook is about, read from the hook name's prefix the way
// lsm_hook_defs.h groups them. Longest prefix wins (`msg_queue_` before `msg_`, `sk_` is not `socket_`).

export type HookCategory =
  | 'file' | 'inode' | 'dentry' | 'path' | 'sb' | 'fs_context' | 'bprm' | 'cred' | 'task' | 'ipc' | 'msg' | 'shm'
  | 'sem' | 'socket' | 'sk' | 'net' | 'unix' | 'sctp' | 'tun' | 'xfrm' | 'key' | 'bpf' | 'perf' | 'audit'
  | 'binder' | 'ptrace' | 'capability' | 'kernel' | 'mmap' | 'uring' | 'secid' | 'bdev' | 'userns' | 'misc';

const PREFIXES: ReadonlyArray<readonly [string, HookCategory]> = [
  ['file_', 'file'],
  ['backing_file_', 'file'],
  ['mmap_backing_file', 'mmap'],
  ['inode_', 'inode'],
  ['kernfs_', 'inode'],
  ['d_instantiate', 'dentry'],
  ['dentry_', 'dentry'],
  ['path_', 'path'],
  ['sb_', 'sb'],
  ['move_mount', 'sb'],
  ['quota', 'sb'],
  ['fs_context_', 'fs_context'],
  ['bprm_', 'bprm'],
  ['cred_', 'cred'],
  ['kernel_act_as', 'cred'],
  ['kernel_create_files_as', 'cred'],
  ['current_getsecid', 'cred'],
  ['current_getlsmprop', 'cred'],
  ['task_', 'task'],
  ['ipc_', 'ipc'],
  ['msg_msg_', 'msg'],
  ['msg_queue_', 'msg'],
  ['shm_', 'shm'],
  ['sem_', 'sem'],
  ['socket_', 'socket'],
  ['sock_', 'sk'],
  ['sk_', 'sk'],
  ['inet_', 'net'],
  ['req_classify_flow', 'net'],
  ['secmark_', 'net'],
  ['netlink_', 'net'],
  ['mptcp_', 'net'],
  ['ib_', 'net'],
  ['unix_', 'unix'],
  ['sctp_', 'sctp'],
  ['tun_dev_', 'tun'],
  ['xfrm_', 'xfrm'],
  ['key_', 'key'],
  ['bpf', 'bpf'],
  ['perf_event_', 'perf'],
  ['audit_', 'audit'],
  ['binder_', 'binder'],
  ['ptrace_', 'ptrace'],
  ['capable', 'capability'],
  ['capget', 'capability'],
  ['capset', 'capability'],
  ['kernel_', 'kernel'],
  ['locked_down', 'kernel'],
  ['initramfs_', 'kernel'],
  ['mmap_', 'mmap'],
  ['file_mprotect', 'mmap'],
  ['vm_enough_memory', 'mmap'],
  ['uring_', 'uring'],
  ['secid_', 'secid'],
  ['secctx_', 'secid'],
  ['lsmprop_', 'secid'],
  ['release_secctx', 'secid'],
  ['ismaclabel', 'secid'],
  ['getprocattr', 'secid'],
  ['setprocattr', 'secid'],
  ['getselfattr', 'secid'],
  ['setselfattr', 'secid'],
  ['bdev_', 'bdev'],
  ['userns_', 'userns'],
];

const ORDERED = [...PREFIXES].sort((a, b) => b[0].length - a[0].length);

export function hookCategory(hook: string): HookCategory {
  for (const [prefix, category] of ORDERED) if (hook.startsWith(prefix)) return category;
  return 'misc';
}
