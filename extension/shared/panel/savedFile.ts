// Validation of a saved trace session (JSON lines) before its events enter the panel's store.
import { DROP_SITES } from '../panelProtocol';
import type { TraceEvent } from '../traceEvent';

const PROCESS_WHAT = new Set(['fork', 'exec', 'exit']);

/**
 * Checks a parsed line of a saved session before it enters the store: a file from disk is input, and a
 * malformed line is counted and skipped rather than breaking the panel.
 */
export function isTraceEvent(v: unknown): v is TraceEvent {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Record<string, unknown>;
  if (typeof e.time !== 'number' || typeof e.pid !== 'number' || typeof e.tgid !== 'number' || typeof e.comm !== 'string') return false;
  if (e.cpu !== undefined && typeof e.cpu !== 'number') return false;
  switch (e.kind) {
    case 'hook':
      return typeof e.hook === 'string' && typeof e.args === 'object' && e.args !== null && !Array.isArray(e.args) &&
        (e.ret === undefined || typeof e.ret === 'number') && (e.syscall === undefined || typeof e.syscall === 'string') &&
        (e.category === undefined || typeof e.category === 'string') &&
        (e.source === undefined || (typeof e.source === 'object' && e.source !== null &&
          typeof (e.source as Record<string, unknown>).file === 'string' && typeof (e.source as Record<string, unknown>).line === 'number'));
    case 'syscall_enter':
      return typeof e.syscall === 'string' && typeof e.nr === 'number' && Array.isArray(e.args) && e.args.every((a) => typeof a === 'number');
    case 'syscall_exit':
      return typeof e.syscall === 'string' && typeof e.nr === 'number' && typeof e.ret === 'number';
    case 'process':
      return typeof e.what === 'string' && PROCESS_WHAT.has(e.what) && (e.filename === undefined || typeof e.filename === 'string');
    case 'drops':
      return typeof e.where === 'string' && (DROP_SITES as readonly string[]).includes(e.where) && typeof e.count === 'number';
    default:
      return false;
  }
}
