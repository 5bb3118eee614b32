// A trace request that fails on its way into the tracer's filter: the program it was for never runs
// untraced (traceProgram kills it instead of resuming it), and a scenario step's process does not stay in
// the filter (StepTracer.observe takes it out again); the caller sees the request's own error.
import * as assert from 'node:assert/strict';
import { traceProgram } from '../../extension/core/trace/traceProgram';
import { StepTracer } from '../../extension/core/testing/stepEvents';
import type { TracerSession } from '../../extension/core/trace/tracerSession';

const counters = { records: 0, ringbufFull: 0, nested: 0 };

/** A session whose helper answers spawn and records every other request; traceProcess fails. */
function failingSession(calls: Array<[string, unknown]>, untraced: number[]): TracerSession {
  const session = {
    client: {
      call: async (method: string, params: unknown) => {
        calls.push([method, params]);
        return method === 'spawn' ? { pid: 4242 } : {};
      },
      onNotification: () => ({ dispose() {} }),
      closed: new Promise(() => undefined),
    },
    decodeStats: { malformed: 0 },
    onEvents: () => undefined,
    counters: async () => counters,
    traceProcess: async () => {
      throw new Error('mapUpdate tr_traced: E2BIG');
    },
    untraceProcess: async (pid: number) => {
      untraced.push(pid);
    },
    tracedCount: async () => 0,
  };
  return session as unknown as TracerSession;
}

describe('trace filter requests that fail', () => {
  it('traceProgram kills the stopped program instead of resuming it, and rejects with the request error', async () => {
    const calls: Array<[string, unknown]> = [];
    await assert.rejects(traceProgram(failingSession(calls, []), { argv: ['/usr/bin/ls'] }, () => undefined), /tr_traced: E2BIG/);
    const methods = calls.map(([m]) => m);
    assert.ok(!methods.includes('resume'), `resumed: ${methods.join(', ')}`);
    assert.deepEqual(
      calls.find(([m]) => m === 'kill'),
      ['kill', { pid: 4242, signal: 'SIGKILL' }],
    );
  });

  it('StepTracer.observe takes the process out of the filter again and never runs the step', async () => {
    const untraced: number[] = [];
    let ran = false;
    const tracer = new (StepTracer as unknown as new (s: TracerSession, n: ReadonlyMap<string, string>) => StepTracer)(failingSession([], untraced), new Map());
    await assert.rejects(
      tracer.observe(77, undefined, false, async () => {
        ran = true;
      }),
      /tr_traced: E2BIG/,
    );
    assert.equal(ran, false);
    assert.deepEqual(untraced, [77]);
  });
});
