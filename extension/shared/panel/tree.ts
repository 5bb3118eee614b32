// The tree modes of the tracing panel ("by syscall", "by process"): groups and the rows of the view, each
// group's header followed by its matching events when expanded.
import { FLAG_DENIED, IntList } from './columns';
import type { Grouping } from '../panelProtocol';

/** One syscall instance of one thread, or one process (tgid): the parent rows of the tree modes. */
export interface GroupInfo {
  readonly grouping: Exclude<Grouping, 'none'>;
  readonly id: number;
  /** Syscall name (syscall mode) or latest comm (process mode). */
  readonly label: string;
  readonly pid: number;
  readonly tgid: number;
  /** Index of the group's first event. */
  readonly first: number;
  /** Syscall return value from its exit event, when seen. */
  readonly ret?: number;
  /** Syscall arguments from its enter event, when seen. */
  readonly enterArgs?: readonly number[];
}

/** A row of the current view: a group header (tree modes) or an event. */
export type ViewRow =
  | { readonly type: 'group'; readonly group: GroupInfo; readonly count: number; readonly denied: number; readonly expanded: boolean }
  | { readonly type: 'event'; readonly index: number; readonly depth: 0 | 1 };

/** The rows of a tree view: >= 0 an event index, < 0 the header of group -row - 1. */
export interface TreeRows {
  readonly rows: Int32Array;
  readonly length: number;
  /** Matching events per group. */
  readonly counts: Int32Array;
  /** Of those, how many a hook denied. */
  readonly denied: Int32Array;
}

/**
 * Tree rows: each group once, at the position of its first matching event, followed by its matching
 * events when expanded; events outside any group stay where they are. Two linear passes over the
 * matches with typed arrays (a counting sort by group).
 */
export function buildTreeRows(groupCol: Int32Array, groups: number, collapsedGroups: Iterable<number>, matches: IntList, flags: Uint8Array): TreeRows {
  // Flags in a typed array: a Set lookup per group costs more than the rest of the pass on big sessions.
  const collapsed = new Uint8Array(groups);
  for (const g of collapsedGroups) if (g < groups) collapsed[g] = 1;
  const m = matches.data;
  const len = matches.length;
  const counts = new Int32Array(groups);
  const denied = new Int32Array(groups);
  const top = new IntList(1024);
  for (let k = 0; k < len; k++) {
    const i = m[k];
    const g = groupCol[i];
    if (g < 0) top.push(i);
    else {
      if (counts[g] === 0) top.push(-g - 1);
      counts[g]++;
      if (flags[i] & FLAG_DENIED) denied[g]++;
    }
  }
  const offsets = new Int32Array(groups + 1);
  for (let g = 0; g < groups; g++) offsets[g + 1] = offsets[g] + counts[g];
  const members = new Int32Array(len);
  const fill = offsets.slice(0, groups);
  for (let k = 0; k < len; k++) {
    const g = groupCol[m[k]];
    if (g >= 0) members[fill[g]++] = m[k];
  }
  let total = top.length;
  for (let t = 0; t < top.length; t++) {
    const v = top.data[t];
    if (v < 0 && !collapsed[-v - 1]) total += counts[-v - 1];
  }
  const rows = new Int32Array(total);
  let r = 0;
  for (let t = 0; t < top.length; t++) {
    const v = top.data[t];
    rows[r++] = v;
    if (v < 0) {
      const g = -v - 1;
      if (!collapsed[g]) {
        rows.set(members.subarray(offsets[g], offsets[g + 1]), r);
        r += counts[g];
      }
    }
  }
  return { rows, length: total, counts, denied };
}
