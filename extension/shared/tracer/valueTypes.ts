// THE table of what the tracer reads from each kernel type. The generator turns each entry into a C
// struct (`struct tr_v_<key>`), a reader subprogram that fills it with CO-RE reads, and a decoder
// descriptor with the same offsets; nothing else describes these layouts.
//
// In `read`, C code sees: `c` (struct tr_ctx *, for strings in the record tail), `o` (the output
// struct), `v` (the kernel pointer, never NULL there) and `aux` (a long taken from another argument of
// the hook, see `aux`). Reads go through BPF_CORE_READ (bpf_probe_read_kernel), so a field that holds
// a bad pointer yields zeros instead of a verifier rejection, and relocations follow the target kernel.
// The file and inode readers, which run several times per syscall of a traced file loop, load their plain
// fields directly instead (`v->f_inode->i_ino`): the hook's arguments are BTF pointers, such loads are
// CO-RE relocated the same way and also yield zeros on a bad pointer, and each saves a helper call
// (~50 ns in the 6.1 VM: file_alloc_security 2129 -> 1652 ns, inode_permission ~300 ns less).
import type { FormatName } from './formats';
import type { Store } from './layout';

export interface ValueField {
  readonly name: string;
  readonly store: Store;
  readonly fmt: FormatName;
  /** C statement(s). `dpath` is true when the hook may call bpf_d_path. */
  readonly read: string | ((opt: { dpath: boolean }) => string);
}

export interface ValueType {
  /** Name of the C struct suffix and of the reader: tr_v_<key>, tr_read_<key>. */
  readonly key: string;
  /** Pointers to these BTF structs/unions (or these typedefs) are read with this type. */
  readonly structs?: readonly string[];
  readonly unions?: readonly string[];
  readonly typedefs?: readonly string[];
  /** C expression turning the raw argument `x` into the pointer the reader takes (default: a cast). */
  readonly pointer?: string;
  /** C type the reader's `v` has. */
  readonly cType: string;
  readonly fields: readonly ValueField[];
  /** A sibling hook argument that the reader needs (by name), with the C value used when it is absent. */
  readonly aux?: { readonly params: readonly string[]; readonly fallback: string };
  /** Fields the target's BTF must have for the reader to compile: `struct.member` (nested with dots). */
  readonly needs: readonly string[];
  /** Decoder post-processing of the decoded object (see decoder.ts). */
  readonly post?: 'path' | 'sockaddr' | 'bpf_attr';
  /** Readers that may call bpf_d_path get a second variant for hooks on its allow-list. */
  readonly dpath?: boolean;
  /** Only these hooks read the value; elsewhere the argument is recorded as present or not. */
  readonly onlyHooks?: readonly string[];
}

/**
 * `member`: the struct path in `v` (PATH: `v` is one), for bpf_d_path; `dentry` and `mnt`: what the walk starts
 * from and the mount it crosses from.
 */
const path = (member: string, dentry: string, mnt: string) => ({ dpath }: { dpath: boolean }): string =>
  dpath
    ? `tr_put_dpath(c, &o->path, &o->path_src, ${member === 'PATH' ? 'v' : `&v->${member}`});`
    : `tr_put_path_walk(c, &o->path, &o->path_src, ${dentry}, ${mnt});`;

export const VALUE_TYPES: readonly ValueType[] = [
  {
    key: 'file',
    structs: ['file'],
    cType: 'struct file',
    dpath: true,
    post: 'path',
    needs: ['file.f_mode', 'file.f_flags', 'file.f_inode', 'file.f_path', 'inode.i_ino', 'inode.i_mode', 'mount.mnt', 'mount.mnt_parent', 'mount.mnt_mountpoint'],
    fields: [
      // Direct loads as below (the walk takes BTF pointers as well): two probe reads less a file record.
      { name: 'path', store: 'str', fmt: 'path', read: path('f_path', 'v->f_path.dentry', 'v->f_path.mnt') },
      { name: 'path_src', store: 'u8', fmt: 'hidden', read: '' },
      { name: 'f_mode', store: 'u32', fmt: 'fmode', read: 'o->f_mode = v->f_mode;' },
      { name: 'f_flags', store: 'u32', fmt: 'open', read: 'o->f_flags = v->f_flags;' },
      { name: 'ino', store: 'u64', fmt: 'dec', read: 'o->ino = v->f_inode->i_ino;' },
      { name: 'i_mode', store: 'u16', fmt: 'mode', read: 'o->i_mode = v->f_inode->i_mode;' },
    ],
  },
  {
    key: 'path',
    structs: ['path'],
    cType: 'struct path',
    dpath: true,
    post: 'path',
    needs: ['path.dentry', 'path.mnt', 'dentry.d_inode', 'inode.i_ino', 'mount.mnt'],
    fields: [
      { name: 'path', store: 'str', fmt: 'path', read: path('PATH', 'BPF_CORE_READ(v, dentry)', 'BPF_CORE_READ(v, mnt)') },
      { name: 'path_src', store: 'u8', fmt: 'hidden', read: '' },
      { name: 'ino', store: 'u64', fmt: 'dec', read: 'o->ino = BPF_CORE_READ(v, dentry, d_inode, i_ino);' },
      { name: 'i_mode', store: 'u16', fmt: 'mode', read: 'o->i_mode = BPF_CORE_READ(v, dentry, d_inode, i_mode);' },
    ],
  },
  {
    key: 'dentry',
    structs: ['dentry'],
    cType: 'struct dentry',
    post: 'path',
    needs: ['dentry.d_parent', 'dentry.d_name', 'dentry.d_inode', 'inode.i_ino'],
    fields: [
      // Negative dentries (a name about to be created) have no inode: ino and mode stay 0.
      // Without a mount the walk stops at the root of the dentry's own file system: not a full path.
      { name: 'fs_path', store: 'str', fmt: 'path', read: 'tr_put_path_walk(c, &o->fs_path, &o->path_src, v, NULL);' },
      { name: 'path_src', store: 'u8', fmt: 'hidden', read: '' },
      { name: 'ino', store: 'u64', fmt: 'dec', read: 'o->ino = BPF_CORE_READ(v, d_inode, i_ino);' },
      { name: 'i_mode', store: 'u16', fmt: 'mode', read: 'o->i_mode = BPF_CORE_READ(v, d_inode, i_mode);' },
    ],
  },
  {
    key: 'inode',
    structs: ['inode'],
    cType: 'struct inode',
    needs: ['inode.i_ino', 'inode.i_mode', 'inode.i_uid', 'inode.i_gid', 'inode.i_sb', 'inode.i_size', 'super_block.s_dev'],
    fields: [
      { name: 'ino', store: 'u64', fmt: 'dec', read: 'o->ino = v->i_ino;' },
      { name: 'mode', store: 'u16', fmt: 'mode', read: 'o->mode = v->i_mode;' },
      { name: 'uid', store: 'u32', fmt: 'dec', read: 'o->uid = v->i_uid.val;' },
      { name: 'gid', store: 'u32', fmt: 'dec', read: 'o->gid = v->i_gid.val;' },
      { name: 'dev', store: 'u32', fmt: 'dev', read: 'o->dev = v->i_sb->s_dev;' },
      { name: 'size', store: 's64', fmt: 'dec', read: 'o->size = v->i_size;' },
      // Moved twice (timespec64 i_ctime -> __i_ctime in 6.6 -> i_ctime_sec in 6.11): see tr_inode_ctime.
      { name: 'ctime', store: 's64', fmt: 'dec', read: 'o->ctime = tr_inode_ctime(v);' },
    ],
  },
  {
    key: 'bprm',
    structs: ['linux_binprm'],
    cType: 'struct linux_binprm',
    needs: ['linux_binprm.filename', 'linux_binprm.interp', 'linux_binprm.argc', 'linux_binprm.envc'],
    fields: [
      { name: 'filename', store: 'str', fmt: 'str', read: 'tr_put_kstr(c, &o->filename, BPF_CORE_READ(v, filename));' },
      { name: 'interp', store: 'str', fmt: 'str', read: 'tr_put_kstr(c, &o->interp, BPF_CORE_READ(v, interp));' },
      { name: 'argc', store: 's32', fmt: 'dec', read: 'o->argc = BPF_CORE_READ(v, argc);' },
      { name: 'envc', store: 's32', fmt: 'dec', read: 'o->envc = BPF_CORE_READ(v, envc);' },
    ],
  },
  {
    key: 'cred',
    structs: ['cred'],
    cType: 'struct cred',
    needs: ['cred.uid', 'cred.gid', 'cred.euid', 'cred.egid', 'cred.fsuid', 'cred.fsgid', 'cred.cap_effective'],
    fields: [
      { name: 'uid', store: 'u32', fmt: 'dec', read: 'o->uid = BPF_CORE_READ(v, uid.val);' },
      { name: 'gid', store: 'u32', fmt: 'dec', read: 'o->gid = BPF_CORE_READ(v, gid.val);' },
      { name: 'euid', store: 'u32', fmt: 'dec', read: 'o->euid = BPF_CORE_READ(v, euid.val);' },
      { name: 'egid', store: 'u32', fmt: 'dec', read: 'o->egid = BPF_CORE_READ(v, egid.val);' },
      { name: 'fsuid', store: 'u32', fmt: 'dec', read: 'o->fsuid = BPF_CORE_READ(v, fsuid.val);' },
      { name: 'fsgid', store: 'u32', fmt: 'dec', read: 'o->fsgid = BPF_CORE_READ(v, fsgid.val);' },
      // kernel_cap_t is __u32 cap[2] in 6.1 and a u64 since 6.3: the same 8 little-endian bytes.
      { name: 'cap_effective', store: 'u64', fmt: 'caps', read: 'o->cap_effective = tr_read_u64(&v->cap_effective);' },
    ],
  },
  {
    key: 'caps',
    typedefs: ['kernel_cap_t'],
    cType: 'void',
    needs: [],
    fields: [{ name: 'set', store: 'u64', fmt: 'caps', read: 'o->set = tr_read_u64(v);' }],
  },
  {
    key: 'task',
    structs: ['task_struct'],
    cType: 'struct task_struct',
    needs: ['task_struct.pid', 'task_struct.tgid', 'task_struct.comm'],
    fields: [
      { name: 'pid', store: 's32', fmt: 'dec', read: 'o->pid = BPF_CORE_READ(v, pid);' },
      { name: 'tgid', store: 's32', fmt: 'dec', read: 'o->tgid = BPF_CORE_READ(v, tgid);' },
      { name: 'comm', store: 'char16', fmt: 'str', read: 'BPF_CORE_READ_STR_INTO(&o->comm, v, comm);' },
    ],
  },
  {
    key: 'socket',
    structs: ['socket'],
    cType: 'struct socket',
    needs: ['socket.type', 'socket.sk', 'sock.sk_protocol', 'sock.__sk_common', 'sock_common.skc_family'],
    fields: [
      { name: 'family', store: 'u16', fmt: 'family', read: 'o->family = BPF_CORE_READ(v, sk, __sk_common.skc_family);' },
      { name: 'type', store: 'u16', fmt: 'socktype', read: 'o->type = BPF_CORE_READ(v, type);' },
      { name: 'protocol', store: 'u16', fmt: 'dec', read: 'o->protocol = BPF_CORE_READ(v, sk, sk_protocol);' },
    ],
  },
  {
    key: 'sock',
    structs: ['sock'],
    cType: 'struct sock',
    needs: ['sock.sk_type', 'sock.sk_protocol', 'sock_common.skc_family', 'sock_common.skc_num', 'sock_common.skc_dport', 'sock_common.skc_rcv_saddr', 'sock_common.skc_daddr'],
    fields: [
      { name: 'family', store: 'u16', fmt: 'family', read: 'o->family = BPF_CORE_READ(v, __sk_common.skc_family);' },
      { name: 'type', store: 'u16', fmt: 'socktype', read: 'o->type = BPF_CORE_READ(v, sk_type);' },
      { name: 'protocol', store: 'u16', fmt: 'dec', read: 'o->protocol = BPF_CORE_READ(v, sk_protocol);' },
      { name: 'sport', store: 'u16', fmt: 'dec', read: 'o->sport = BPF_CORE_READ(v, __sk_common.skc_num);' },
      { name: 'dport', store: 'u16', fmt: 'dec', read: 'o->dport = bpf_ntohs(BPF_CORE_READ(v, __sk_common.skc_dport));' },
      { name: 'saddr', store: 'u32', fmt: 'ipv4', read: 'o->saddr = BPF_CORE_READ(v, __sk_common.skc_rcv_saddr);' },
      { name: 'daddr', store: 'u32', fmt: 'ipv4', read: 'o->daddr = BPF_CORE_READ(v, __sk_common.skc_daddr);' },
    ],
  },
  {
    // Only as many bytes as the caller's address length allows are read (AF_INET 2, AF_INET6 10, AF_UNIX 1).
    key: 'sockaddr',
    structs: ['sockaddr'],
    cType: 'struct sockaddr',
    aux: { params: ['addrlen', 'address_len', 'len'], fallback: '16' },
    post: 'sockaddr',
    needs: ['sockaddr.sa_family', 'sockaddr_in.sin_port', 'sockaddr_in.sin_addr', 'sockaddr_in6.sin6_addr'],
    fields: [
      { name: 'family', store: 'u16', fmt: 'family', read: 'o->family = aux >= 2 ? BPF_CORE_READ(v, sa_family) : 0;' },
      {
        name: 'port',
        store: 'u16',
        fmt: 'dec',
        read: 'if ((o->family == 2 && aux >= 4) || (o->family == 10 && aux >= 4))\n\t\to->port = bpf_ntohs(BPF_CORE_READ((struct sockaddr_in *)v, sin_port));',
      },
      { name: 'addr4', store: 'u32', fmt: 'ipv4', read: 'if (o->family == 2 && aux >= 8)\n\t\to->addr4 = BPF_CORE_READ((struct sockaddr_in *)v, sin_addr.s_addr);' },
      { name: 'addr6', store: 'bytes16', fmt: 'ipv6', read: 'if (o->family == 10 && aux >= 24)\n\t\tBPF_CORE_READ_INTO(&o->addr6, (struct sockaddr_in6 *)v, sin6_addr);' },
      { name: 'unix_path', store: 'str', fmt: 'bytes', read: 'if (o->family == 1 && aux > 2)\n\t\ttr_put_bytes(c, &o->unix_path, (const char *)v + 2, aux - 2 > 108 ? 108 : aux - 2);' },
    ],
  },
  {
    // The destination of sendmsg/sendto (msg_name is the kernel's copy, msg_namelen its length). Not on
    // recvmsg: there msg_name is a buffer the receive has yet to fill, and reading it would show stale
    // kernel stack bytes.
    key: 'msghdr',
    structs: ['msghdr'],
    cType: 'struct msghdr',
    onlyHooks: ['socket_sendmsg'],
    post: 'sockaddr',
    needs: ['msghdr.msg_name', 'msghdr.msg_namelen', 'sockaddr.sa_family', 'sockaddr_in.sin_port', 'sockaddr_in.sin_addr', 'sockaddr_in6.sin6_addr'],
    fields: [
      {
        name: 'family',
        store: 'u16',
        fmt: 'family',
        read: 'struct sockaddr *sa = BPF_CORE_READ(v, msg_name);\n\tint len = BPF_CORE_READ(v, msg_namelen);\n\n\tif (!sa || len < 2)\n\t\treturn;\n\to->family = BPF_CORE_READ(sa, sa_family);',
      },
      {
        name: 'port',
        store: 'u16',
        fmt: 'dec',
        read: 'if ((o->family == 2 && len >= 4) || (o->family == 10 && len >= 4))\n\t\to->port = bpf_ntohs(BPF_CORE_READ((struct sockaddr_in *)sa, sin_port));',
      },
      { name: 'addr4', store: 'u32', fmt: 'ipv4', read: 'if (o->family == 2 && len >= 8)\n\t\to->addr4 = BPF_CORE_READ((struct sockaddr_in *)sa, sin_addr.s_addr);' },
      { name: 'addr6', store: 'bytes16', fmt: 'ipv6', read: 'if (o->family == 10 && len >= 24)\n\t\tBPF_CORE_READ_INTO(&o->addr6, (struct sockaddr_in6 *)sa, sin6_addr);' },
    ],
  },
  {
    key: 'sb',
    structs: ['super_block'],
    cType: 'struct super_block',
    needs: ['super_block.s_id', 'super_block.s_type', 'super_block.s_dev', 'super_block.s_magic', 'file_system_type.name'],
    fields: [
      { name: 'id', store: 'char32', fmt: 'str', read: 'BPF_CORE_READ_STR_INTO(&o->id, v, s_id);' },
      { name: 'fstype', store: 'str', fmt: 'str', read: 'tr_put_kstr(c, &o->fstype, BPF_CORE_READ(v, s_type, name));' },
      { name: 'dev', store: 'u32', fmt: 'dev', read: 'o->dev = BPF_CORE_READ(v, s_dev);' },
      { name: 'magic', store: 'u64', fmt: 'hex', read: 'o->magic = BPF_CORE_READ(v, s_magic);' },
    ],
  },
  {
    key: 'vfsmount',
    structs: ['vfsmount'],
    cType: 'struct vfsmount',
    needs: ['vfsmount.mnt_sb', 'super_block.s_id', 'vfsmount.mnt_flags'],
    fields: [
      { name: 'sb_id', store: 'char32', fmt: 'str', read: 'BPF_CORE_READ_STR_INTO(&o->sb_id, v, mnt_sb, s_id);' },
      { name: 'flags', store: 'u32', fmt: 'hex', read: 'o->flags = BPF_CORE_READ(v, mnt_flags);' },
    ],
  },
  {
    key: 'ipc',
    structs: ['kern_ipc_perm'],
    cType: 'struct kern_ipc_perm',
    needs: ['kern_ipc_perm.key', 'kern_ipc_perm.id', 'kern_ipc_perm.mode', 'kern_ipc_perm.uid', 'kern_ipc_perm.gid'],
    fields: [
      { name: 'key', store: 's32', fmt: 'dec', read: 'o->key = BPF_CORE_READ(v, key);' },
      { name: 'id', store: 's32', fmt: 'dec', read: 'o->id = BPF_CORE_READ(v, id);' },
      { name: 'mode', store: 'u16', fmt: 'oct', read: 'o->mode = BPF_CORE_READ(v, mode);' },
      { name: 'uid', store: 'u32', fmt: 'dec', read: 'o->uid = BPF_CORE_READ(v, uid.val);' },
      { name: 'gid', store: 'u32', fmt: 'dec', read: 'o->gid = BPF_CORE_READ(v, gid.val);' },
    ],
  },
  {
    key: 'msg',
    structs: ['msg_msg'],
    cType: 'struct msg_msg',
    needs: ['msg_msg.m_type', 'msg_msg.m_ts'],
    fields: [
      { name: 'type', store: 's64', fmt: 'dec', read: 'o->type = BPF_CORE_READ(v, m_type);' },
      { name: 'size', store: 'u64', fmt: 'dec', read: 'o->size = BPF_CORE_READ(v, m_ts);' },
    ],
  },
  {
    // key_ref_t (a struct key pointer with a "possessed" bit) points to an incomplete struct, which the
    // verifier refuses to load from the context; only plain struct key pointers are read.
    key: 'key',
    structs: ['key'],
    cType: 'struct key',
    needs: ['key.serial', 'key.uid', 'key.perm', 'key.type', 'key_type.name'],
    fields: [
      { name: 'serial', store: 's32', fmt: 'dec', read: 'o->serial = BPF_CORE_READ(v, serial);' },
      { name: 'uid', store: 'u32', fmt: 'dec', read: 'o->uid = BPF_CORE_READ(v, uid.val);' },
      { name: 'perm', store: 'u32', fmt: 'hex', read: 'o->perm = BPF_CORE_READ(v, perm);' },
      { name: 'type', store: 'str', fmt: 'str', read: 'tr_put_kstr(c, &o->type, BPF_CORE_READ(v, type, name));' },
    ],
  },
  {
    // Which fields mean something depends on the command: BPF_MAP_CREATE (0) or BPF_PROG_LOAD (5).
    key: 'bpf_attr',
    unions: ['bpf_attr'],
    cType: 'union bpf_attr',
    aux: { params: ['cmd'], fallback: '-1' },
    post: 'bpf_attr',
    needs: ['bpf_attr.map_type', 'bpf_attr.map_name', 'bpf_attr.prog_type', 'bpf_attr.prog_name'],
    fields: [
      { name: 'cmd', store: 'u8', fmt: 'hidden', read: 'o->cmd = aux == 0 ? 1 : aux == 5 ? 2 : 0;' },
      { name: 'map_type', store: 'u32', fmt: 'enum:bpf_map_type', read: 'if (aux == 0)\n\t\to->map_type = BPF_CORE_READ(v, map_type);' },
      { name: 'prog_type', store: 'u32', fmt: 'enum:bpf_prog_type', read: 'if (aux == 5)\n\t\to->prog_type = BPF_CORE_READ(v, prog_type);' },
      {
        name: 'name',
        store: 'char16',
        fmt: 'str',
        read: 'if (aux == 0)\n\t\tBPF_CORE_READ_STR_INTO(&o->name, v, map_name);\n\telse if (aux == 5)\n\t\tBPF_CORE_READ_STR_INTO(&o->name, v, prog_name);',
      },
    ],
  },
  {
    key: 'bpf_prog',
    structs: ['bpf_prog'],
    cType: 'struct bpf_prog',
    needs: ['bpf_prog.type', 'bpf_prog.aux', 'bpf_prog_aux.id', 'bpf_prog_aux.name'],
    fields: [
      { name: 'type', store: 'u32', fmt: 'enum:bpf_prog_type', read: 'o->type = BPF_CORE_READ(v, type);' },
      { name: 'id', store: 'u32', fmt: 'dec', read: 'o->id = BPF_CORE_READ(v, aux, id);' },
      { name: 'name', store: 'char16', fmt: 'str', read: 'BPF_CORE_READ_STR_INTO(&o->name, v, aux, name);' },
    ],
  },
  {
    key: 'bpf_prog_aux',
    structs: ['bpf_prog_aux'],
    cType: 'struct bpf_prog_aux',
    needs: ['bpf_prog_aux.id', 'bpf_prog_aux.name'],
    fields: [
      { name: 'id', store: 'u32', fmt: 'dec', read: 'o->id = BPF_CORE_READ(v, id);' },
      { name: 'name', store: 'char16', fmt: 'str', read: 'BPF_CORE_READ_STR_INTO(&o->name, v, name);' },
    ],
  },
  {
    key: 'bpf_map',
    structs: ['bpf_map'],
    cType: 'struct bpf_map',
    needs: ['bpf_map.map_type', 'bpf_map.id', 'bpf_map.name'],
    fields: [
      { name: 'map_type', store: 'u32', fmt: 'enum:bpf_map_type', read: 'o->map_type = BPF_CORE_READ(v, map_type);' },
      { name: 'id', store: 'u32', fmt: 'dec', read: 'o->id = BPF_CORE_READ(v, id);' },
      { name: 'name', store: 'char16', fmt: 'str', read: 'BPF_CORE_READ_STR_INTO(&o->name, v, name);' },
    ],
  },
  {
    key: 'iattr',
    structs: ['iattr'],
    cType: 'struct iattr',
    needs: ['iattr.ia_valid', 'iattr.ia_mode', 'iattr.ia_size'],
    fields: [
      { name: 'valid', store: 'u32', fmt: 'attr', read: 'o->valid = BPF_CORE_READ(v, ia_valid);' },
      { name: 'mode', store: 'u16', fmt: 'mode', read: 'o->mode = BPF_CORE_READ(v, ia_mode);' },
      { name: 'size', store: 's64', fmt: 'dec', read: 'o->size = BPF_CORE_READ(v, ia_size);' },
    ],
  },
  {
    key: 'qstr',
    structs: ['qstr'],
    cType: 'struct qstr',
    needs: ['qstr.name'],
    fields: [{ name: 'name', store: 'str', fmt: 'str', read: 'tr_put_kstr(c, &o->name, (const char *)BPF_CORE_READ(v, name));' }],
  },
  {
    key: 'vma',
    structs: ['vm_area_struct'],
    cType: 'struct vm_area_struct',
    needs: ['vm_area_struct.vm_start', 'vm_area_struct.vm_end', 'vm_area_struct.vm_flags'],
    fields: [
      { name: 'start', store: 'u64', fmt: 'hex', read: 'o->start = BPF_CORE_READ(v, vm_start);' },
      { name: 'end', store: 'u64', fmt: 'hex', read: 'o->end = BPF_CORE_READ(v, vm_end);' },
      { name: 'flags', store: 'u64', fmt: 'hex', read: 'o->flags = tr_read_u64(&v->vm_flags);' },
    ],
  },
  {
    key: 'siginfo',
    structs: ['kernel_siginfo'],
    cType: 'struct kernel_siginfo',
    needs: ['kernel_siginfo.si_signo', 'kernel_siginfo.si_code'],
    fields: [
      { name: 'signo', store: 's32', fmt: 'signal', read: 'o->signo = BPF_CORE_READ(v, si_signo);' },
      { name: 'code', store: 's32', fmt: 'dec', read: 'o->code = BPF_CORE_READ(v, si_code);' },
    ],
  },
  {
    key: 'timespec',
    structs: ['timespec64'],
    cType: 'struct timespec64',
    needs: ['timespec64.tv_sec', 'timespec64.tv_nsec'],
    fields: [
      { name: 'sec', store: 's64', fmt: 'dec', read: 'o->sec = BPF_CORE_READ(v, tv_sec);' },
      { name: 'nsec', store: 's64', fmt: 'dec', read: 'o->nsec = BPF_CORE_READ(v, tv_nsec);' },
    ],
  },
  {
    key: 'rlimit',
    structs: ['rlimit'],
    cType: 'struct rlimit',
    needs: ['rlimit.rlim_cur', 'rlimit.rlim_max'],
    fields: [
      { name: 'cur', store: 'u64', fmt: 'dec', read: 'o->cur = BPF_CORE_READ(v, rlim_cur);' },
      { name: 'max', store: 'u64', fmt: 'dec', read: 'o->max = BPF_CORE_READ(v, rlim_max);' },
    ],
  },
  {
    key: 'fs_context',
    structs: ['fs_context'],
    cType: 'struct fs_context',
    needs: ['fs_context.fs_type', 'fs_context.source', 'file_system_type.name'],
    fields: [
      { name: 'fstype', store: 'str', fmt: 'str', read: 'tr_put_kstr(c, &o->fstype, BPF_CORE_READ(v, fs_type, name));' },
      { name: 'source', store: 'str', fmt: 'str', read: 'tr_put_kstr(c, &o->source, BPF_CORE_READ(v, source));' },
    ],
  },
  {
    key: 'kernfs_node',
    structs: ['kernfs_node'],
    cType: 'struct kernfs_node',
    needs: ['kernfs_node.name'],
    fields: [{ name: 'name', store: 'str', fmt: 'str', read: 'tr_put_kstr(c, &o->name, BPF_CORE_READ(v, name));' }],
  },
  {
    key: 'xattr',
    structs: ['xattr'],
    cType: 'struct xattr',
    needs: ['xattr.name'],
    fields: [{ name: 'name', store: 'str', fmt: 'str', read: 'tr_put_kstr(c, &o->name, BPF_CORE_READ(v, name));' }],
  },
  {
    key: 'skb',
    structs: ['sk_buff'],
    cType: 'struct sk_buff',
    needs: ['sk_buff.len'],
    fields: [{ name: 'len', store: 'u32', fmt: 'dec', read: 'o->len = BPF_CORE_READ(v, len);' }],
  },
  {
    key: 'perf_attr',
    structs: ['perf_event_attr'],
    cType: 'struct perf_event_attr',
    needs: ['perf_event_attr.type', 'perf_event_attr.config'],
    fields: [
      { name: 'type', store: 'u32', fmt: 'dec', read: 'o->type = BPF_CORE_READ(v, type);' },
      { name: 'config', store: 'u64', fmt: 'hex', read: 'o->config = BPF_CORE_READ(v, config);' },
    ],
  },
];
