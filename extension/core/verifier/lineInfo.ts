// BTF line info of a compiled probe (.BTF.ext), read straight from the object: for each ELF section, which
// instruction offsets came from which file, line and column, and the text of that line. The kernel prints
// the same text as "; <text>" in its verifier log; matching the two gives the line of a rejection even on
// kernels (before 6.4) that do not print file:line.
import { Btf } from '../../shared/btf/btf';
import { elfSection } from '../../shared/btf/elf';

export interface LineInfo {
  /** ELF section of the program, e.g. "lsm/file_open". */
  readonly section: string;
  /** Instruction index within the section (byte offset / 8). */
  readonly insn: number;
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly text: string;
}

export class LineInfoError extends Error {}

function btfStrings(btf: Buffer): (off: number) => string {
  if (btf.length < 24 || btf.readUInt16LE(0) !== 0xeb9f) throw new LineInfoError('the object has no little-endian .BTF section');
  const hdrLen = btf.readUInt32LE(4);
  const strOff = btf.readUInt32LE(16);
  const strLen = btf.readUInt32LE(20);
  const base = hdrLen + strOff;
  if (base + strLen > btf.length) throw new LineInfoError('the .BTF string section runs past the end of .BTF');
  return (off) => {
    if (off >= strLen) throw new LineInfoError(`BTF string offset ${off} is outside the string section (${strLen} bytes)`);
    const end = btf.indexOf(0, base + off);
    return btf.toString('utf8', base + off, end < 0 ? base + strLen : end);
  };
}

/** Every line info record of a BPF object (empty when it was built without -g). */
export function objectLineInfo(object: Uint8Array): LineInfo[] {
  const btfRaw = elfSection(object, '.BTF');
  const extRaw = elfSection(object, '.BTF.ext');
  if (!btfRaw || !extRaw) return [];
  const btf = Buffer.from(btfRaw.buffer, btfRaw.byteOffset, btfRaw.byteLength);
  const ext = Buffer.from(extRaw.buffer, extRaw.byteOffset, extRaw.byteLength);
  const str = btfStrings(btf);
  if (ext.length < 24 || ext.readUInt16LE(0) !== 0xeb9f) throw new LineInfoError('the .BTF.ext section has a bad header');
  const hdrLen = ext.readUInt32LE(4);
  const lineOff = ext.readUInt32LE(16);
  const lineLen = ext.readUInt32LE(20);
  let at = hdrLen + lineOff;
  const end = at + lineLen;
  if (lineLen === 0) return [];
  if (end > ext.length) throw new LineInfoError('the .BTF.ext line info runs past the end of the section');
  const recSize = ext.readUInt32LE(at);
  if (recSize < 16) throw new LineInfoError(`line info records of ${recSize} bytes are too small`);
  at += 4;
  const out: LineInfo[] = [];
  while (at + 8 <= end) {
    const section = str(ext.readUInt32LE(at));
    const count = ext.readUInt32LE(at + 4);
    at += 8;
    if (at + count * recSize > end) throw new LineInfoError(`line info of section ${section} runs past the end of .BTF.ext`);
    for (let i = 0; i < count; i++, at += recSize) {
      const lineCol = ext.readUInt32LE(at + 12);
      out.push({
        section,
        insn: ext.readUInt32LE(at) / 8,
        file: str(ext.readUInt32LE(at + 4)),
        text: str(ext.readUInt32LE(at + 8)).trim(),
        line: lineCol >>> 10,
        column: lineCol & 0x3ff,
      });
    }
  }
  return out;
}

/**
 * The line the verifier stopped on: the record of the program's section whose text is what the log
 * printed; when that text occurs on several lines, the one whose instruction range holds `insn`.
 */
export function locate(records: readonly LineInfo[], section: string | undefined, sourceText: string, insn?: number): LineInfo | undefined {
  const text = sourceText.trim();
  const inSection = section ? records.filter((r) => r.section === section) : records;
  const pool = inSection.length ? inSection : records;
  const same = pool.filter((r) => r.text === text);
  if (same.length === 0) return undefined;
  const lines = new Map(same.map((r) => [`${r.file}:${r.line}`, r]));
  if (lines.size === 1 || insn === undefined) return same[0];
  // Closest record at or before the failing instruction (subprograms appended by libbpf shift indexes,
  // so fall back to the first match rather than guessing across sections).
  const before = same.filter((r) => r.insn <= insn).sort((a, b) => b.insn - a.insn);
  return before[0] ?? same[0];
}

/** Program (function) name -> ELF section, from the object's BTF func info. */
export function programSections(object: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  const btfRaw = elfSection(object, '.BTF');
  const extRaw = elfSection(object, '.BTF.ext');
  if (!btfRaw || !extRaw) return out;
  const ext = Buffer.from(extRaw.buffer, extRaw.byteOffset, extRaw.byteLength);
  const btf = new Btf(btfRaw, 'the object\'s BTF');
  const str = btfStrings(Buffer.from(btfRaw.buffer, btfRaw.byteOffset, btfRaw.byteLength));
  const hdrLen = ext.readUInt32LE(4);
  let at = hdrLen + ext.readUInt32LE(8);
  const end = at + ext.readUInt32LE(12);
  if (end > ext.length || end - at < 4) return out;
  const recSize = ext.readUInt32LE(at);
  at += 4;
  while (at + 8 <= end) {
    const section = str(ext.readUInt32LE(at));
    const count = ext.readUInt32LE(at + 4);
    at += 8;
    for (let i = 0; i < count && at + recSize <= end; i++, at += recSize) {
      const name = btf.name(ext.readUInt32LE(at + 4));
      if (name && !out.has(name)) out.set(name, section);
    }
  }
  return out;
}
