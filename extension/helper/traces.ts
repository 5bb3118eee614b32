// Trace sessions of a helper session: ring buffers of an owned object drained on a pool thread and sent to
// the client as binary event batches (startTrace, stopTrace, traceStats). While the client is behind, the
// loop stops draining and the kernel ring absorbs the burst (any overflow is counted by the probe itself).
import type { Writable } from 'node:stream';
import type { NativeBinding, RingConsumer } from '../../native/index';
import { type HelperNotification, type HelperNotifications, type TraceStats } from '../shared/helperProtocol';
import { encodeEventBatch } from '../shared/helperFrames';
import { decodeValue } from '../shared/helperValues';
import { globalOf } from './maps';
import { serial, type ObjectTable } from './objects';
import { HelperError, type Handlers } from './request';

/** Each trace session holds a pool thread while it polls (see helper.ts). */
const MAX_TRACES = 8;
/**
 * How long a ring buffer poll waits for a wakeup. Probes may batch their wakeups (the tracer wakes the
 * helper only once 256 KiB wait), so this is also how late a lone record can arrive.
 */
const POLL_MS = 25;
/**
 * A ring buffer that holds any record is ready to epoll, whatever wakeups the producer asked for, so a poll
 * right after a batch returns at once with the few records written since. A traced loop of 140k records/s
 * kept the VM's helper daemon ~0.9 of a vCPU busy that way, the vCPU the traced program then lacked. After a
 * batch smaller than this, the next poll waits for the rest of POLL_MS (records then arrive at most that late,
 * as with a quiet producer); after a larger one it follows at once, so a fast producer is drained as fast
 * as before.
 */
const SMALL_BATCH_BYTES = 64 * 1024;

interface TraceSession {
  id: number;
  objectId: number;
  consumer: RingConsumer;
  counters: string[];
  maxBatchBytes: number;
  /** Batches leave compressed (startTrace's compress). */
  compress: boolean;
  running: boolean;
  /** On stopTrace the rings are drained before the reply; on teardown they are not. */
  flush: boolean;
  loop: Promise<void>;
  stats: Omit<TraceStats, 'counters' | 'running' | 'sessionId'>;
  sequence: number;
}

export interface TraceContext {
  objects: ObjectTable;
  requireNative(): NativeBinding;
  /** The stream towards the client: its backlog decides when polling pauses. */
  output: Writable;
  /** Bytes buffered towards the client before trace sessions stop polling. */
  highWater: number;
  write(buffers: Buffer[]): void;
  notify<N extends HelperNotification>(method: N, params: HelperNotifications[N]): void;
}

export class TraceTable {
  private readonly traces = new Map<number, TraceSession>();
  private nextSessionId = 1;
  private drainWaiters: Array<() => void> = [];
  /** Loops pausing between small batches; a stopping trace ends their pause at once. */
  private readonly pauses = new Set<() => void>();

  constructor(private readonly ctx: TraceContext) {}

  get size(): number {
    return this.traces.size;
  }

  list(): TraceStats[] {
    return [...this.traces.values()].map((t) => this.stats(t));
  }

  /** The client's stream drained: loops waiting on it poll again. */
  wakeDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private endPauses(): void {
    for (const end of [...this.pauses]) end();
  }

  /** Waits `ms` (see SMALL_BATCH_BYTES), or less when a trace stops. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const end = (): void => {
        clearTimeout(timer);
        this.pauses.delete(end);
        resolve();
      };
      const timer = setTimeout(end, ms);
      this.pauses.add(end);
    });
  }

  async stopTracesOf(objectId: number): Promise<void> {
    for (const t of [...this.traces.values()].filter((x) => x.objectId === objectId)) await this.stop(t);
  }

  /** Ends every session without flushing its rings (the session is going away). */
  async stopAll(): Promise<void> {
    for (const t of this.traces.values()) {
      t.running = false;
      t.flush = false;
    }
    this.wakeDrainWaiters();
    this.endPauses();
    await Promise.allSettled([...this.traces.values()].map((t) => t.loop));
    this.traces.clear();
  }

  handlers(): Handlers<'startTrace' | 'stopTrace' | 'traceStats'> {
    const { objects } = this.ctx;
    return {
      startTrace: async (params) => {
        const o = objects.get(params.objectId);
        if (this.traces.size >= MAX_TRACES) {
          throw new HelperError('busy', `${MAX_TRACES} trace sessions are already running; stop one first`);
        }
        const native = this.ctx.requireNative();
        const maps = o.bpf.maps();
        for (const r of params.ringBuffers) {
          const m = maps.find((x) => x.name === r);
          if (!m) throw new HelperError('not-found', `object ${o.name} has no map "${r}"`);
          if (m.type !== 'ringbuf') throw new HelperError('invalid-params', `map ${r} is a ${m.type}, not a ringbuf`);
        }
        for (const c of params.counters ?? []) globalOf(o, c);
        const consumer = await serial(o, () => new native.RingConsumer(o.bpf, params.ringBuffers));
        const t: TraceSession = {
          id: this.nextSessionId++,
          objectId: o.id,
          consumer,
          counters: params.counters ?? [],
          maxBatchBytes: params.maxBatchBytes ?? 1 << 20,
          compress: params.compress ?? false,
          running: true,
          flush: true,
          loop: Promise.resolve(),
          stats: { records: 0, bytes: 0, batches: 0, helperDroppedRecords: 0 },
          sequence: 0,
        };
        this.traces.set(t.id, t);
        t.loop = this.loop(t);
        return { result: { sessionId: t.id } };
      },

      stopTrace: async (params) => ({ result: await this.stop(this.session(params.sessionId)) }),

      traceStats: async (params) => ({ result: this.stats(this.session(params.sessionId)) }),
    };
  }

  private session(id: number): TraceSession {
    const t = this.traces.get(id);
    if (!t) throw new HelperError('not-found', `no trace session ${id}`);
    return t;
  }

  private async stop(t: TraceSession): Promise<TraceStats> {
    t.running = false;
    this.wakeDrainWaiters();
    this.endPauses();
    await t.loop;
    this.traces.delete(t.id);
    return this.stats(t);
  }

  private stats(t: TraceSession): TraceStats {
    const counters: Record<string, number> = {};
    const o = this.ctx.objects.find(t.objectId);
    for (const name of t.counters) {
      if (!o) continue;
      try {
        const g = globalOf(o, name);
        const v = decodeValue(g.type, o.bpf.getGlobal(name));
        counters[name] = typeof v === 'number' ? v : Number(v);
      } catch {
        // A counter that cannot be read is left out rather than reported as 0.
      }
    }
    return { sessionId: t.id, ...t.stats, counters, running: t.running };
  }

  /** The next poll waits while more than about one batch is still queued towards the client. */
  private backlogged(t: TraceSession): boolean {
    return this.ctx.output.writableLength > Math.max(this.ctx.highWater, t.maxBatchBytes);
  }

  private waitForDrain(): Promise<void> {
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private async loop(t: TraceSession): Promise<void> {
    try {
      // A batch is only queued on the socket here; the event loop writes it out while the next poll drains
      // the ring on a worker thread.
      let polled = Date.now();
      let next: ReturnType<RingConsumer['poll']> | undefined = t.consumer.poll(POLL_MS, t.maxBatchBytes);
      while (next) {
        const { count, data } = await next;
        next = undefined;
        if (count > 0) this.sendBatch(t, count, data);
        while (t.running && this.backlogged(t)) {
          // Stop draining the kernel ring while the client is behind: the ring absorbs the burst and any
          // overflow is counted by the probe's own drop counter, so nothing is lost silently.
          await this.waitForDrain();
        }
        const rest = polled + POLL_MS - Date.now();
        if (t.running && data.length < SMALL_BATCH_BYTES && rest > 0) await this.pause(rest);
        if (t.running) {
          polled = Date.now();
          next = t.consumer.poll(POLL_MS, t.maxBatchBytes);
        }
      }
      // Flush what is still in the rings so stopTrace's reply follows every record emitted before it
      // (bounded, in case a probe keeps emitting).
      for (let i = 0; t.flush && i < 256; i++) {
        const { count, data } = await t.consumer.poll(0, t.maxBatchBytes);
        if (count === 0) break;
        this.sendBatch(t, count, data);
      }
    } catch (err) {
      if (t.running) {
        t.running = false;
        this.ctx.notify('traceEnded', { sessionId: t.id, reason: (err as Error).message, stats: this.stats(t) });
      }
    } finally {
      t.consumer.close();
    }
  }

  private sendBatch(t: TraceSession, count: number, data: Buffer): void {
    t.stats.records += count;
    t.stats.bytes += data.length;
    t.stats.batches++;
    this.ctx.write(encodeEventBatch({ sessionId: t.id, count, sequence: t.sequence++, helperDropped: t.stats.helperDroppedRecords, records: data }, t.compress));
  }
}
