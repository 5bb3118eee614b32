// The resident tracer's filter: the tr_traced hash from a traced process's pid to its struct tr_task, whose
// slot is the trace session that gets its records, and for pids below TR_TGID_FLAGS the tr_maybe flag (slot
// + 1) that the programs go by. Read whole by a session taking a slot over (the entries a dead session left
// there) and by the keeper (is anything traced?).
import type { BpfObject } from '../../native/index';
import { decodeTracedValue, hasMaybeFlag, MAYBE_MAP, NO_FLAG, TRACED_MAP } from '../shared/tracer/control';

export interface TracedEntry {
  readonly pid: number;
  /** The entry's key as the map holds it, for a delete. */
  readonly key: Buffer;
  readonly slot: number;
}

/** Every entry of the filter, page by page. */
export function tracedEntries(bpf: BpfObject): TracedEntry[] {
  const entries: TracedEntry[] = [];
  let after: Buffer | null = null;
  for (;;) {
    const page = bpf.mapEntries(TRACED_MAP, after, 1024);
    const valueSize = page.count ? page.values.length / page.count : 0;
    for (let i = 0; i < page.count; i++) {
      const key = Buffer.from(page.keys.subarray(i * 4, i * 4 + 4));
      entries.push({ pid: key.readUInt32LE(0), key, slot: decodeTracedValue(page.values.subarray(i * valueSize, (i + 1) * valueSize)).slot });
    }
    if (!page.more || page.count === 0) return entries;
    after = Buffer.from(page.keys.subarray((page.count - 1) * 4, page.count * 4));
  }
}

/** Takes a process out of the filter: its flag first (what the programs go by), then its entry. */
export function forgetTraced(bpf: BpfObject, e: TracedEntry): void {
  if (hasMaybeFlag(e.pid)) bpf.mapUpdate(MAYBE_MAP, e.key, Buffer.from(NO_FLAG));
  bpf.mapDelete(TRACED_MAP, e.key);
}
