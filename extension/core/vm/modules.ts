// Kernel modules for the VM: which ones the guest needs, and the order to insmod them in.
// Debian's linux-image .deb ships no modules.dep (depmod runs at install time, and we never install it),
// so the dependency order is read from each module's own `.modinfo` section (`depends=a,b`).

/**
 * The modules the VM loads, by module name. Their dependencies are pulled in and ordered automatically.
 * virtio_console carries the helper channels (see ../targets/vmChannel.ts).
 */
export const VM_MODULES = ['virtio_pci', 'virtio_rng', 'virtio_net', 'virtio_console'] as const;

export interface ModInfo {
  /** The module name (`name=`), which uses `_` where the file name may use `-` (virtio-rng.ko). */
  readonly name: string;
  readonly depends: readonly string[];
}

/** Reads `name=` and `depends=` from the `.modinfo` section of an ELF64 little-endian kernel module. */
export function readModInfo(ko: Buffer, file = 'module'): ModInfo {
  if (ko.length < 64 || ko.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${file} is not an ELF file`);
  if (ko[4] !== 2 || ko[5] !== 1) throw new Error(`${file} is not a 64-bit little-endian ELF file`);
  const shoff = Number(ko.readBigUInt64LE(0x28));
  const shentsize = ko.readUInt16LE(0x3a);
  const shnum = ko.readUInt16LE(0x3c);
  const shstrndx = ko.readUInt16LE(0x3e);
  if (shoff + shnum * shentsize > ko.length || shstrndx >= shnum) throw new Error(`${file} has a truncated section table`);
  const section = (i: number) => {
    const at = shoff + i * shentsize;
    return { name: ko.readUInt32LE(at), offset: Number(ko.readBigUInt64LE(at + 0x18)), size: Number(ko.readBigUInt64LE(at + 0x20)) };
  };
  const names = section(shstrndx);
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    const start = names.offset + s.name;
    const end = ko.indexOf(0, start);
    if (ko.toString('latin1', start, end) !== '.modinfo') continue;
    if (s.offset + s.size > ko.length) throw new Error(`${file}: .modinfo runs past the end of the file`);
    const fields = ko.toString('utf8', s.offset, s.offset + s.size).split('\0');
    const value = (key: string) => fields.find((f) => f.startsWith(key + '='))?.slice(key.length + 1);
    const name = value('name');
    if (!name) throw new Error(`${file}: .modinfo has no name= field`);
    const depends = (value('depends') ?? '').split(',').filter(Boolean);
    return { name, depends };
  }
  throw new Error(`${file} has no .modinfo section; is it a kernel module?`);
}

/**
 * The insmod order for `wanted` and everything they depend on: each module after all of its
 * dependencies, otherwise in the order asked for. Fails on a missing module or a dependency cycle.
 */
export function loadOrder(wanted: readonly string[], available: ReadonlyMap<string, ModInfo>): string[] {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, chain: string[]) => {
    const s = state.get(name);
    if (s === 'done') return;
    if (s === 'visiting') throw new Error(`kernel module dependency cycle: ${[...chain, name].join(' -> ')}`);
    const info = available.get(name);
    if (!info) {
      const by = chain.length ? ` (needed by ${chain[chain.length - 1]})` : '';
      throw new Error(`kernel module ${name}${by} is not in the kernel package`);
    }
    state.set(name, 'visiting');
    for (const dep of info.depends) visit(dep, [...chain, name]);
    state.set(name, 'done');
    order.push(name);
  };
  for (const name of wanted) visit(name, []);
  return order;
}
