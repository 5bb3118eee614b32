// Names for the numbers that hooks pass around: permission masks, mmap protections and flags, open
// flags, capabilities, signals, socket families. Kernel #defines are not in BTF, so these facts are
// tables here (x86_64 values, from the uapi and kernel headers); enums that BTF does carry
// (bpf_cmd, kernel_read_file_id, lockdown_reason, ...) are taken from the target's BTF by the
// generator instead. Values without a name are kept as hex, never dropped.

export type FlagTable = ReadonlyArray<readonly [number, string]>;

/** A bit mask as `NAME|NAME|0x40` (or `zero` when nothing is set). */
export function formatFlags(value: number, table: FlagTable, zero = '0'): string {
  if (value === 0) return zero;
  let rest = value >>> 0;
  let out = '';
  for (let i = 0; i < table.length; i++) {
    const bit = table[i][0];
    if ((rest & bit) === bit && bit !== 0) {
      out = out ? `${out}|${table[i][1]}` : table[i][1];
      rest = (rest & ~bit) >>> 0;
    }
  }
  if (rest) out = out ? `${out}|0x${rest.toString(16)}` : `0x${rest.toString(16)}`;
  return out;
}

/** MAY_* of inode_permission/file_permission masks (include/linux/fs.h). */
export const MAY_FLAGS: FlagTable = [
  [0x1, 'MAY_EXEC'], [0x2, 'MAY_WRITE'], [0x4, 'MAY_READ'], [0x8, 'MAY_APPEND'], [0x10, 'MAY_ACCESS'],
  [0x20, 'MAY_OPEN'], [0x40, 'MAY_CHDIR'], [0x80, 'MAY_NOT_BLOCK'],
];

export const PROT_FLAGS: FlagTable = [
  [0x1, 'PROT_READ'], [0x2, 'PROT_WRITE'], [0x4, 'PROT_EXEC'], [0x8, 'PROT_SEM'],
  [0x01000000, 'PROT_GROWSDOWN'], [0x02000000, 'PROT_GROWSUP'],
];

/** mmap flags; the low nibble is a type (MAP_SHARED/PRIVATE/SHARED_VALIDATE), handled by formatMmapFlags. */
const MAP_BITS: FlagTable = [
  [0x10, 'MAP_FIXED'], [0x20, 'MAP_ANONYMOUS'], [0x40, 'MAP_32BIT'], [0x100, 'MAP_GROWSDOWN'],
  [0x800, 'MAP_DENYWRITE'], [0x1000, 'MAP_EXECUTABLE'], [0x2000, 'MAP_LOCKED'], [0x4000, 'MAP_NORESERVE'],
  [0x8000, 'MAP_POPULATE'], [0x10000, 'MAP_NONBLOCK'], [0x20000, 'MAP_STACK'], [0x40000, 'MAP_HUGETLB'],
  [0x80000, 'MAP_SYNC'], [0x100000, 'MAP_FIXED_NOREPLACE'], [0x4000000, 'MAP_UNINITIALIZED'],
];
const MAP_TYPES: Readonly<Record<number, string>> = { 1: 'MAP_SHARED', 2: 'MAP_PRIVATE', 3: 'MAP_SHARED_VALIDATE' };

export function formatMmapFlags(value: number): string {
  const type = value & 0xf;
  const head = MAP_TYPES[type] ?? (type ? `0x${type.toString(16)}` : '');
  const tail = formatFlags(value & ~0xf, MAP_BITS, '');
  return head && tail ? `${head}|${tail}` : head || tail || '0';
}

/** f_flags / open(2) flags (x86_64 octal values); the access mode is the low two bits. */
const OPEN_BITS: FlagTable = [
  // Kernel-internal: f_flags of a file opened for exec (__FMODE_EXEC, include/linux/fs.h).
  [0o40, '__FMODE_EXEC'],
  [0o100, 'O_CREAT'], [0o200, 'O_EXCL'], [0o400, 'O_NOCTTY'], [0o1000, 'O_TRUNC'], [0o2000, 'O_APPEND'],
  [0o4000, 'O_NONBLOCK'], [0o10000, 'O_DSYNC'], [0o20000, 'FASYNC'], [0o40000, 'O_DIRECT'],
  [0o100000, 'O_LARGEFILE'], [0o200000, 'O_DIRECTORY'], [0o400000, 'O_NOFOLLOW'], [0o1000000, 'O_NOATIME'],
  [0o2000000, 'O_CLOEXEC'], [0o4000000, '__O_SYNC'], [0o10000000, 'O_PATH'], [0o20000000, '__O_TMPFILE'],
];
const ACCESS_MODES = ['O_RDONLY', 'O_WRONLY', 'O_RDWR', 'O_ACCMODE'];

export function formatOpenFlags(value: number): string {
  const tail = formatFlags(value & ~3, OPEN_BITS, '');
  return tail ? `${ACCESS_MODES[value & 3]}|${tail}` : ACCESS_MODES[value & 3];
}

/** FMODE_* bits that kept their values from 6.1 to 6.18; later bits moved, so they stay hex. */
export const FMODE_FLAGS: FlagTable = [
  [0x1, 'FMODE_READ'], [0x2, 'FMODE_WRITE'], [0x4, 'FMODE_LSEEK'], [0x8, 'FMODE_PREAD'], [0x10, 'FMODE_PWRITE'],
  [0x20, 'FMODE_EXEC'],
];

export const CLONE_FLAGS: FlagTable = [
  [0x100, 'CLONE_VM'], [0x200, 'CLONE_FS'], [0x400, 'CLONE_FILES'], [0x800, 'CLONE_SIGHAND'], [0x1000, 'CLONE_PIDFD'],
  [0x2000, 'CLONE_PTRACE'], [0x4000, 'CLONE_VFORK'], [0x8000, 'CLONE_PARENT'], [0x10000, 'CLONE_THREAD'],
  [0x20000, 'CLONE_NEWNS'], [0x40000, 'CLONE_SYSVSEM'], [0x80000, 'CLONE_SETTLS'], [0x100000, 'CLONE_PARENT_SETTID'],
  [0x200000, 'CLONE_CHILD_CLEARTID'], [0x400000, 'CLONE_DETACHED'], [0x800000, 'CLONE_UNTRACED'],
  [0x1000000, 'CLONE_CHILD_SETTID'], [0x2000000, 'CLONE_NEWCGROUP'], [0x4000000, 'CLONE_NEWUTS'],
  [0x8000000, 'CLONE_NEWIPC'], [0x10000000, 'CLONE_NEWUSER'], [0x20000000, 'CLONE_NEWPID'], [0x40000000, 'CLONE_NEWNET'],
  [0x80000000, 'CLONE_IO'],
];

export const PTRACE_MODE_FLAGS: FlagTable = [
  [0x1, 'PTRACE_MODE_READ'], [0x2, 'PTRACE_MODE_ATTACH'], [0x4, 'PTRACE_MODE_NOAUDIT'], [0x8, 'PTRACE_MODE_FSCREDS'],
  [0x10, 'PTRACE_MODE_REALCREDS'],
];

export const CAP_OPT_FLAGS: FlagTable = [[0x2, 'CAP_OPT_NOAUDIT'], [0x4, 'CAP_OPT_INSETID']];

/** struct iattr .ia_valid. */
export const ATTR_FLAGS: FlagTable = [
  [0x1, 'ATTR_MODE'], [0x2, 'ATTR_UID'], [0x4, 'ATTR_GID'], [0x8, 'ATTR_SIZE'], [0x10, 'ATTR_ATIME'], [0x20, 'ATTR_MTIME'],
  [0x40, 'ATTR_CTIME'], [0x80, 'ATTR_ATIME_SET'], [0x100, 'ATTR_MTIME_SET'], [0x200, 'ATTR_FORCE'], [0x800, 'ATTR_KILL_SUID'],
  [0x1000, 'ATTR_KILL_SGID'], [0x2000, 'ATTR_FILE'], [0x4000, 'ATTR_KILL_PRIV'], [0x8000, 'ATTR_OPEN'],
  [0x10000, 'ATTR_TIMES_SET'], [0x20000, 'ATTR_TOUCH'],
];

/** MS_* of sb_mount flags. */
export const MOUNT_FLAGS: FlagTable = [
  [0x1, 'MS_RDONLY'], [0x2, 'MS_NOSUID'], [0x4, 'MS_NODEV'], [0x8, 'MS_NOEXEC'], [0x10, 'MS_SYNCHRONOUS'],
  [0x20, 'MS_REMOUNT'], [0x40, 'MS_MANDLOCK'], [0x80, 'MS_DIRSYNC'], [0x100, 'MS_NOSYMFOLLOW'], [0x400, 'MS_NOATIME'],
  [0x800, 'MS_NODIRATIME'], [0x1000, 'MS_BIND'], [0x2000, 'MS_MOVE'], [0x4000, 'MS_REC'], [0x8000, 'MS_SILENT'],
  [0x10000, 'MS_POSIXACL'], [0x20000, 'MS_UNBINDABLE'], [0x40000, 'MS_PRIVATE'], [0x80000, 'MS_SLAVE'],
  [0x100000, 'MS_SHARED'], [0x200000, 'MS_RELATIME'], [0x400000, 'MS_KERNMOUNT'], [0x800000, 'MS_I_VERSION'],
  [0x1000000, 'MS_STRICTATIME'], [0x2000000, 'MS_LAZYTIME'],
];

/** Capability numbers (include/uapi/linux/capability.h). */
export const CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN',
  'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ',
  'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

/** A capability set (kernel_cap_t as 64 bits) as names; a full set is shown as `all`. */
export function formatCapSet(lo: number, hi: number): string {
  const names: string[] = [];
  let unknown = 0;
  for (let bit = 0; bit < 64; bit++) {
    const set = bit < 32 ? (lo >>> bit) & 1 : (hi >>> (bit - 32)) & 1;
    if (!set) continue;
    if (bit < CAPABILITIES.length) names.push(CAPABILITIES[bit]);
    else unknown++;
  }
  if (names.length === CAPABILITIES.length && unknown === 0) return 'all';
  if (names.length === 0 && unknown === 0) return '0';
  return unknown ? `${names.join('|')}${names.length ? '|' : ''}+${unknown} unknown` : names.join('|');
}

export const SIGNALS: readonly string[] = [
  '0', 'SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGILL', 'SIGTRAP', 'SIGABRT', 'SIGBUS', 'SIGFPE', 'SIGKILL', 'SIGUSR1', 'SIGSEGV',
  'SIGUSR2', 'SIGPIPE', 'SIGALRM', 'SIGTERM', 'SIGSTKFLT', 'SIGCHLD', 'SIGCONT', 'SIGSTOP', 'SIGTSTP', 'SIGTTIN',
  'SIGTTOU', 'SIGURG', 'SIGXCPU', 'SIGXFSZ', 'SIGVTALRM', 'SIGPROF', 'SIGWINCH', 'SIGIO', 'SIGPWR', 'SIGSYS',
];

export function formatSignal(n: number): string {
  if (n >= 0 && n < SIGNALS.length) return SIGNALS[n];
  if (n >= 32 && n <= 64) return `SIGRT${n - 32}`;
  return String(n);
}

/** AF_* (include/linux/socket.h). */
export const ADDRESS_FAMILIES: readonly string[] = [
  'AF_UNSPEC', 'AF_UNIX', 'AF_INET', 'AF_AX25', 'AF_IPX', 'AF_APPLETALK', 'AF_NETROM', 'AF_BRIDGE', 'AF_ATMPVC', 'AF_X25',
  'AF_INET6', 'AF_ROSE', 'AF_DECnet', 'AF_NETBEUI', 'AF_SECURITY', 'AF_KEY', 'AF_NETLINK', 'AF_PACKET', 'AF_ASH',
  'AF_ECONET', 'AF_ATMSVC', 'AF_RDS', 'AF_SNA', 'AF_IRDA', 'AF_PPPOX', 'AF_WANPIPE', 'AF_LLC', 'AF_IB', 'AF_MPLS',
  'AF_CAN', 'AF_TIPC', 'AF_BLUETOOTH', 'AF_IUCV', 'AF_RXRPC', 'AF_ISDN', 'AF_PHONET', 'AF_IEEE802154', 'AF_CAIF',
  'AF_ALG', 'AF_NFC', 'AF_VSOCK', 'AF_KCM', 'AF_QIPCRTR', 'AF_SMC', 'AF_XDP', 'AF_MCTP',
];

const SOCK_TYPES: Readonly<Record<number, string>> = {
  1: 'SOCK_STREAM', 2: 'SOCK_DGRAM', 3: 'SOCK_RAW', 4: 'SOCK_RDM', 5: 'SOCK_SEQPACKET', 6: 'SOCK_DCCP', 10: 'SOCK_PACKET',
};

/** socket(2) type: the type in the low nibble, SOCK_NONBLOCK/SOCK_CLOEXEC above. */
export function formatSockType(value: number): string {
  const base = SOCK_TYPES[value & 0xf] ?? String(value & 0xf);
  const extra = formatFlags(value & ~0xf, [[0o4000, 'SOCK_NONBLOCK'], [0o2000000, 'SOCK_CLOEXEC']], '');
  return extra ? `${base}|${extra}` : base;
}

const FILE_TYPES: Readonly<Record<number, string>> = {
  0o140000: 's', 0o120000: 'l', 0o100000: '-', 0o060000: 'b', 0o040000: 'd', 0o020000: 'c', 0o010000: 'p',
};

/** A mode as `ls -l` shows it, with the octal value: `-rw-r--r-- (0100644)`. */
export function formatMode(mode: number): string {
  const type = FILE_TYPES[mode & 0o170000] ?? (mode & 0o170000 ? '?' : '');
  const bit = (m: number, c: string): string => (mode & m ? c : '-');
  const x = (m: number, special: number, on: string, off: string): string => (mode & special ? (mode & m ? on : off) : bit(m, 'x'));
  const perms =
    bit(0o400, 'r') + bit(0o200, 'w') + x(0o100, 0o4000, 's', 'S') +
    bit(0o40, 'r') + bit(0o20, 'w') + x(0o10, 0o2000, 's', 'S') +
    bit(0o4, 'r') + bit(0o2, 'w') + x(0o1, 0o1000, 't', 'T');
  return `${type}${perms} (0${mode.toString(8)})`;
}

/** dev_t in the kernel's internal encoding (MINORBITS = 20): `major:minor`. */
export function formatDev(dev: number): string {
  return `${dev >>> 20}:${dev & 0xfffff}`;
}

export function formatIpv4(netOrder: number): string {
  // Stored as read from memory on a little-endian machine: the first octet is the low byte.
  return `${netOrder & 0xff}.${(netOrder >>> 8) & 0xff}.${(netOrder >>> 16) & 0xff}.${netOrder >>> 24}`;
}

export function formatIpv6(b: Uint8Array, off: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[off + i] << 8) | b[off + i + 1]).toString(16));
  // Longest run of zero groups becomes `::` (RFC 5952).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** Formats with a table of names: the generator decides which one each field or argument uses. */
export type FormatName =
  | 'dec' | 'hex' | 'bool' | 'oct' | 'mode' | 'dev' | 'ipv4' | 'ipv6' | 'str' | 'bytes' | 'path' | 'caps'
  | 'may' | 'prot' | 'mmap' | 'open' | 'fmode' | 'clone' | 'ptrace_mode' | 'cap_opt' | 'attr' | 'mount'
  | 'cap' | 'signal' | 'family' | 'socktype' | 'hidden' | `enum:${string}`;
