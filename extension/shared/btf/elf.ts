// Minimal ELF reader: finds a named section in a 32- or 64-bit, little- or big-endian ELF image.
// It exists so BTF can be read straight out of a kernel image (vmlinux `.BTF`) or a compiled probe
// (`.bpf.o` `.BTF`) without shelling out to objcopy or bpftool.

export const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

export interface ElfSection {
  readonly name: string;
  readonly type: number;
  readonly offset: number;
  readonly size: number;
}

export class ElfError extends Error {}

export function isElf(data: Uint8Array): boolean {
  return data.length >= 4 && data[0] === 0x7f && data[1] === 0x45 && data[2] === 0x4c && data[3] === 0x46;
}

/** Lists the sections of an ELF image. Throws ElfError when the image is not a well-formed ELF file. */
export function elfSections(data: Uint8Array): ElfSection[] {
  if (!isElf(data)) throw new ElfError('not an ELF file (no \\x7fELF magic)');
  const cls = data[4];
  const little = data[5] === 1;
  if (cls !== 1 && cls !== 2) throw new ElfError(`unknown ELF class ${cls}`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const is64 = cls === 2;
  const u16 = (o: number): number => view.getUint16(o, little);
  const u32 = (o: number): number => view.getUint32(o, little);
  const addr = (o: number): number => (is64 ? Number(view.getBigUint64(o, little)) : u32(o));
  const shoff = addr(is64 ? 0x28 : 0x20);
  const shentsize = u16(is64 ? 0x3a : 0x2e);
  const shnum = u16(is64 ? 0x3c : 0x30);
  const shstrndx = u16(is64 ? 0x3e : 0x32);
  if (shoff === 0 || shnum === 0) throw new ElfError('ELF file has no section headers');
  if (shoff + shnum * shentsize > data.length) throw new ElfError('ELF section headers run past the end of the file (truncated?)');
  const raw = [];
  for (let i = 0; i < shnum; i++) {
    const h = shoff + i * shentsize;
    raw.push({
      nameOff: u32(h),
      type: u32(h + 4),
      offset: addr(is64 ? h + 0x18 : h + 0x10),
      size: addr(is64 ? h + 0x20 : h + 0x14),
    });
  }
  const strtab = raw[shstrndx];
  if (!strtab) throw new ElfError('ELF section name table index is out of range');
  const nameAt = (off: number): string => {
    let end = strtab.offset + off;
    while (end < data.length && data[end] !== 0) end++;
    return Buffer.from(data.buffer, data.byteOffset + strtab.offset + off, end - strtab.offset - off).toString('latin1');
  };
  return raw.map((s) => ({ name: nameAt(s.nameOff), type: s.type, offset: s.offset, size: s.size }));
}

/** The bytes of one section (a view, not a copy), or undefined when the image has no such section. */
export function elfSection(data: Uint8Array, name: string): Uint8Array | undefined {
  const SHT_NOBITS = 8;
  const s = elfSections(data).find((x) => x.name === name);
  if (!s) return undefined;
  if (s.type === SHT_NOBITS) return new Uint8Array(0);
  if (s.offset + s.size > data.length) throw new ElfError(`ELF section ${name} runs past the end of the file (truncated?)`);
  return data.subarray(s.offset, s.offset + s.size);
}
