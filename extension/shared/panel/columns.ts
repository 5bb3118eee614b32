// The tracing panel store's columns: interned strings, growable typed-array columns and int lists, and how
// an event's kind and flags are coded in them. See store.ts for why the store is laid out in columns.
import type { EventKind } from '../panelProtocol';

export const FLAG_HAS_RET = 1;
export const FLAG_DENIED = 2;
export const FLAG_ERROR = 4;

export const KIND_CODE: Record<EventKind, number> = { hook: 0, syscall_enter: 1, syscall_exit: 2, process: 3, drops: 4 };

/** Strings seen once, stored once; ids are dense so per-id flags live in typed arrays. */
export class StringTable {
  readonly values: string[] = [];
  private readonly ids = new Map<string, number>();
  // For substring search: the lower-cased values joined into a few long strings, searched with the
  // engine's native indexOf instead of one `includes` per value (half a million values in a few ms).
  private chunks: Array<{ readonly text: string; readonly firstId: number; readonly starts: Int32Array }> = [];
  private searchable = 0;

  intern(s: string): number {
    let id = this.ids.get(s);
    if (id === undefined) {
      id = this.values.length;
      this.values.push(s);
      this.ids.set(s, id);
    }
    return id;
  }

  id(s: string): number | undefined {
    return this.ids.get(s);
  }

  get size(): number {
    return this.values.length;
  }

  /** One flag per string: does it contain `needle` (already lower case)? */
  matching(needle: string): Uint8Array {
    const n = this.values.length;
    const out = new Uint8Array(n);
    if (!needle || needle.includes(SEPARATOR)) return out;
    this.index();
    for (const { text, firstId, starts } of this.chunks) {
      let at = text.indexOf(needle);
      while (at >= 0) {
        const k = upperBound(starts, at) - 1;
        out[firstId + k] = 1;
        at = k + 1 < starts.length ? text.indexOf(needle, starts[k + 1]) : -1;
      }
    }
    return out;
  }

  /**
   * Makes every value searchable. Called after each appended batch, so the first text filter does not
   * pay for half a million lower-cased strings at once. A new chunk per batch, and chunks merged while
   * the newer is at least half the size of the older, so each value is copied O(log n) times in all.
   */
  index(): void {
    const n = this.values.length;
    if (this.searchable === n) return;
    const from = this.searchable;
    const starts = new Int32Array(n - from);
    const parts: string[] = [];
    let pos = 0;
    for (let id = from; id < n; id++) {
      const lower = this.values[id].toLowerCase();
      starts[id - from] = pos;
      parts.push(lower);
      pos += lower.length + 1;
    }
    this.chunks.push({ text: parts.join(SEPARATOR), firstId: from, starts });
    this.searchable = n;
    while (this.chunks.length >= 2) {
      const b = this.chunks[this.chunks.length - 1];
      const a = this.chunks[this.chunks.length - 2];
      if (b.starts.length * 2 < a.starts.length) break;
      const merged = new Int32Array(a.starts.length + b.starts.length);
      merged.set(a.starts);
      const shift = a.text.length + 1;
      for (let k = 0; k < b.starts.length; k++) merged[a.starts.length + k] = b.starts[k] + shift;
      this.chunks.splice(-2, 2, { text: a.text + SEPARATOR + b.text, firstId: a.firstId, starts: merged });
    }
  }

  clear(): void {
    this.values.length = 0;
    this.ids.clear();
    this.chunks = [];
    this.searchable = 0;
  }
}

const SEPARATOR = '\u0000';

/** First index in `a` whose value is greater than `v`. */
function upperBound(a: Int32Array, v: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A growable typed-array column; capacity doubles so appends are amortized O(1). */
export class Column<T extends Int32Array | Float64Array | Uint8Array | Int16Array> {
  constructor(
    private readonly make: (n: number) => T,
    public data: T,
  ) {}

  ensure(n: number): void {
    if (n <= this.data.length) return;
    let cap = this.data.length || 1024;
    while (cap < n) cap *= 2;
    const next = this.make(cap);
    next.set(this.data as never);
    this.data = next;
  }
}

export const i32 = (n = 1024) => new Column((k) => new Int32Array(k), new Int32Array(n));
export const f64 = (n = 1024) => new Column((k) => new Float64Array(k), new Float64Array(n));
export const u8 = (n = 1024) => new Column((k) => new Uint8Array(k), new Uint8Array(n));
export const i16 = (n = 1024) => new Column((k) => new Int16Array(k), new Int16Array(n));

/** A growable list of int32 with push; used for matches, pools and group tables. */
export class IntList {
  data: Int32Array;
  length = 0;
  constructor(capacity = 1024) {
    this.data = new Int32Array(capacity);
  }
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Int32Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
  view(): Int32Array {
    return this.data.subarray(0, this.length);
  }
  clear(): void {
    this.length = 0;
  }
}

/** Index of `value` in the sorted prefix of `a` (or -1 when `exact` and absent). */
export function lowerBound(a: Int32Array, length: number, value: number, exact: boolean): number {
  let lo = 0;
  let hi = length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return exact ? (lo < length && a[lo] === value ? lo : -1) : lo;
}
