// The panel's filter: normalized once, compiled to flag arrays over interned ids, then applied by a scan
// over the store's columns (integers only: a text filter tests each distinct string once, up front).
import { EVENT_KINDS, type PanelFilter } from '../panelProtocol';
import { FLAG_DENIED, KIND_CODE, type IntList, type StringTable } from './columns';

/** The string tables a filter is compiled against (the store's). */
export interface InternedStrings {
  readonly names: StringTable;
  readonly values: StringTable;
}

export interface CompiledFilter {
  readonly kinds?: Uint8Array;
  hooks?: Uint8Array;
  categories?: Uint8Array;
  readonly pid?: number;
  readonly deniedOnly: boolean;
  readonly text?: string;
  nameHits?: Uint8Array;
  valueHits?: Uint8Array;
  /**
   * Brings the text flags up to date with strings interned since the last scan. Hook and category sets
   * need no such care: a name interned later has an id past their end, reads as undefined, and so fails
   * the test, which is right because it was not asked for.
   */
  refreshText(model: InternedStrings): void;
}

export function normalizeFilter(f: PanelFilter): PanelFilter {
  const out: { -readonly [K in keyof PanelFilter]: PanelFilter[K] } = {};
  if (f.hooks?.length) out.hooks = [...new Set(f.hooks)];
  if (f.categories?.length) out.categories = [...new Set(f.categories)];
  if (f.pid !== undefined && Number.isFinite(f.pid)) out.pid = f.pid;
  const text = f.text?.trim();
  if (text) out.text = text;
  if (f.kinds?.length) out.kinds = [...new Set(f.kinds)];
  if (f.deniedOnly) out.deniedOnly = true;
  return out;
}

export function compileFilter(f: PanelFilter, model: InternedStrings): CompiledFilter {
  const nameSet = (list: readonly string[] | undefined): Uint8Array | undefined => {
    if (!list) return undefined;
    const flags = new Uint8Array(Math.max(64, model.names.size * 2));
    for (const s of list) flags[model.names.intern(s)] = 1;
    return flags;
  };
  let kinds: Uint8Array | undefined;
  if (f.kinds) {
    kinds = new Uint8Array(EVENT_KINDS.length);
    for (const k of f.kinds) kinds[KIND_CODE[k]] = 1;
  }
  const needle = f.text?.toLowerCase();
  const c: CompiledFilter = {
    kinds,
    hooks: nameSet(f.hooks),
    categories: nameSet(f.categories),
    pid: f.pid,
    deniedOnly: f.deniedOnly === true,
    text: needle,
    refreshText(m: InternedStrings) {
      // Ids are dense and only grow; re-test only when new strings appeared since the last scan.
      if (needle === undefined) return;
      if (!this.nameHits || this.nameHits.length !== m.names.size) this.nameHits = m.names.matching(needle);
      if (!this.valueHits || this.valueHits.length !== m.values.size) this.valueHits = m.values.matching(needle);
    },
  };
  return c;
}

/** The store's columns a scan reads; `argStart[i]` indexes `pool`, events run [0, count). */
export interface ScanColumns {
  readonly count: number;
  readonly kind: Uint8Array;
  readonly flags: Uint8Array;
  readonly pid: Int32Array;
  readonly tgid: Int32Array;
  readonly hook: Int32Array;
  readonly comm: Int32Array;
  readonly syscall: Int32Array;
  readonly category: Int32Array;
  readonly argStart: Int32Array;
  readonly pool: Int32Array;
  readonly poolLength: number;
}

/** Appends to `matches` the events of [from, to) that pass the filter, counting them per hook in `hookMatching`. */
export function scanMatches(
  f: CompiledFilter,
  strings: InternedStrings,
  columns: ScanColumns,
  from: number,
  to: number,
  matches: IntList,
  hookMatching: Int32Array,
): void {
  if (f.text !== undefined) {
    f.refreshText(strings);
    // A text nothing contains matches no event: skip the scan (typing a new word often gets here).
    if (!f.nameHits!.includes(1) && !f.valueHits!.includes(1)) return;
  }
  const { kind, flags, pid, tgid, hook, comm, syscall, category, argStart, pool } = columns;
  const matching = hookMatching;
  for (let i = from; i < to; i++) {
    if (f.kinds && !f.kinds[kind[i]]) continue;
    const h = hook[i];
    if (f.hooks && (h < 0 || !f.hooks[h])) continue;
    if (f.categories && (category[i] < 0 || !f.categories[category[i]])) continue;
    if (f.pid !== undefined && pid[i] !== f.pid && tgid[i] !== f.pid) continue;
    if (f.deniedOnly && !(flags[i] & FLAG_DENIED)) continue;
    if (f.text !== undefined) {
      const names = f.nameHits!;
      let hit = names[comm[i]] === 1 || (h >= 0 && names[h] === 1) || (syscall[i] >= 0 && names[syscall[i]] === 1) ||
        (category[i] >= 0 && names[category[i]] === 1);
      if (!hit) {
        const values = f.valueHits!;
        const end = i + 1 < columns.count ? argStart[i + 1] : columns.poolLength;
        for (let p = argStart[i]; p < end; p++) {
          if (values[pool[p]] === 1) {
            hit = true;
            break;
          }
        }
      }
      if (!hit) continue;
    }
    matches.push(i);
    if (h >= 0) matching[h]++;
  }
}
