// Where the members of a probe's event struct are, read from the object's own BTF (never hand-kept
// offsets), and C strings read out of a record. Used by the exec_block and profile_guard decoders.
import { Btf, BtfKind } from '../../shared/btf/btf';
import { elfSection } from '../../shared/btf/elf';

/** Byte offsets of `names` in `struct <structName>` of the object; errors name what is missing. */
export function eventLayout<N extends string>(object: Uint8Array, objectName: string, structName: string, names: readonly N[]): Record<N, number> {
  const raw = elfSection(object, '.BTF');
  if (!raw) throw new Error(`the ${objectName} object has no BTF; rebuild it with clang -g`);
  const btf = new Btf(raw, `${objectName} BTF`);
  const id = btf.find(BtfKind.Struct, structName);
  if (id === undefined) throw new Error(`the ${objectName} object does not define struct ${structName}`);
  const at = new Map(btf.members(id).map((m) => [m.name, (m.bitOffset ?? 0) / 8]));
  const out = {} as Record<N, number>;
  for (const name of names) {
    const o = at.get(name);
    if (o === undefined) throw new Error(`struct ${structName} has no member ${name}`);
    out[name] = o;
  }
  return out;
}

/** The NUL-terminated string at `start` (at most `max` bytes). */
export function cString(b: Buffer, start: number, max: number): string {
  const s = b.subarray(start, Math.min(b.length, start + max));
  const nul = s.indexOf(0);
  return s.toString('utf8', 0, nul < 0 ? s.length : nul);
}
