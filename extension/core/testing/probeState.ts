// The clean state a scenario starts from, for a file's loaded probes: hash maps emptied, and array maps and
// writable globals (.bss, .data) set back to what they held right after load. A snapshot is taken once per
// file and kernel, after load and before any scenario; each reset reads the arrays back and writes only the
// entries that changed, so a large config array costs one read per 1000 entries, not one write per entry.
// Per-CPU arrays are not restored (their values are one per CPU); ring buffers hold no entries.
import type { HelperClient } from '../helperClient';
import type { GlobalInfo, LoadedObjectInfo, TypedValue } from '../../shared/helperProtocol';

interface MapRef {
  readonly objectId: number;
  readonly map: string;
}

/** Whether a map of this libbpf type name is emptied (hash types) or restored (plain arrays) between scenarios. */
export function resetKind(type: string): 'empty' | 'restore' | undefined {
  if (/hash/i.test(type)) return 'empty';
  if (type === 'array') return 'restore';
  return undefined;
}

/** Globals a running program can change: those of .bss and .data sections (.rodata and .kconfig are frozen at load). */
export function writableGlobals(globals: readonly GlobalInfo[]): GlobalInfo[] {
  return globals.filter((g) => /^\.(bss|data)(\.|$)/.test(g.section));
}

async function entries(client: HelperClient, m: MapRef): Promise<Array<{ key: TypedValue; value: TypedValue }>> {
  const out: Array<{ key: TypedValue; value: TypedValue }> = [];
  let after: TypedValue | undefined;
  for (;;) {
    const page = await client.call('mapEntries', { objectId: m.objectId, map: m.map, limit: 1000, ...(after !== undefined ? { after } : {}) });
    out.push(...page.entries);
    if (!page.more || page.entries.length === 0) return out;
    after = page.entries[page.entries.length - 1].key;
  }
}

export class ProbeState {
  private constructor(
    private readonly hashes: readonly MapRef[],
    private readonly arrays: ReadonlyArray<MapRef & { readonly values: ReadonlyMap<string, { key: TypedValue; value: TypedValue }> }>,
    private readonly globals: ReadonlyArray<{ readonly objectId: number; readonly name: string; readonly value: TypedValue }>,
  ) {}

  /** Reads what the objects' arrays and writable globals hold now (right after load). */
  static async snapshot(client: HelperClient, objects: readonly LoadedObjectInfo[]): Promise<ProbeState> {
    const hashes: MapRef[] = [];
    const arrays: Array<MapRef & { values: Map<string, { key: TypedValue; value: TypedValue }> }> = [];
    const globals: Array<{ objectId: number; name: string; value: TypedValue }> = [];
    for (const o of objects) {
      for (const m of o.maps) {
        if (m.internal) continue;
        const kind = resetKind(m.type);
        const ref = { objectId: o.objectId, map: m.name };
        if (kind === 'empty') hashes.push(ref);
        else if (kind === 'restore') arrays.push({ ...ref, values: new Map((await entries(client, ref)).map((e) => [JSON.stringify(e.key), e])) });
      }
      for (const g of writableGlobals(o.globals)) globals.push({ objectId: o.objectId, name: g.name, value: (await client.call('getGlobal', { objectId: o.objectId, name: g.name })).value });
    }
    return new ProbeState(hashes, arrays, globals);
  }

  /** Empties the hash maps and puts arrays and globals back to the snapshot. */
  async reset(client: HelperClient): Promise<void> {
    for (const m of this.hashes) {
      for (;;) {
        const page = await client.call('mapEntries', { objectId: m.objectId, map: m.map, limit: 1000 });
        for (const e of page.entries) await client.call('mapDelete', { objectId: m.objectId, map: m.map, key: e.key });
        if (!page.more || page.entries.length === 0) break;
      }
    }
    for (const a of this.arrays) {
      for (const e of await entries(client, a)) {
        const was = a.values.get(JSON.stringify(e.key));
        if (was && JSON.stringify(was.value) !== JSON.stringify(e.value)) await client.call('mapUpdate', { objectId: a.objectId, map: a.map, key: was.key, value: was.value });
      }
    }
    for (const g of this.globals) await client.call('setGlobal', g);
  }
}
