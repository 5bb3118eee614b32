// The resident tracer's acquire request (extension/helper/tracerHandlers.ts): a gzipped object that does not
// inflate, or inflates past the limit, fails the request with a clear error before anything is opened.
import * as assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { tracerHandlers, type TracerHandlerDeps } from '../../extension/helper/tracerHandlers';

function deps(opened: string[]): TracerHandlerDeps {
  const fail = (code: string, message: string) => Object.assign(new Error(message), { code });
  return {
    native: () => {
      opened.push('native');
      throw new Error('no addon in this test');
    },
    check: async () => undefined,
    fail: fail as TracerHandlerDeps['fail'],
    loadFailure: (err) => err as Error,
    setGlobals: () => undefined,
    own: () => 1,
  };
}

const params = { key: '0123456789abcdef-f1', programs: ['tr_file_open'], idleMs: 0, objectEncoding: 'gzip' as const };

describe('tracer acquire request', () => {
  it('fails a blob that is not gzip data with objectEncoding gzip, without opening anything', async () => {
    const opened: string[] = [];
    const { tracerAcquire } = tracerHandlers(deps(opened));
    await assert.rejects(tracerAcquire(params, { blob: Buffer.from('\x7fELF not gzipped') }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'invalid-params');
      assert.match(err.message, /the tracer object did not inflate \(objectEncoding gzip\)/);
      return true;
    });
    assert.deepEqual(opened, []);
  });

  it('fails a gzip blob that inflates past 64 MiB', async () => {
    const opened: string[] = [];
    const { tracerAcquire } = tracerHandlers(deps(opened));
    const bomb = gzipSync(Buffer.alloc((64 << 20) + 1));
    await assert.rejects(tracerAcquire(params, { blob: bomb }), /did not inflate.*(buffer|length|large)/i);
    assert.deepEqual(opened, []);
  });

  it('inflates a good blob and goes on to the tracer (here: the missing addon)', async () => {
    const opened: string[] = [];
    const { tracerAcquire } = tracerHandlers(deps(opened));
    await assert.rejects(tracerAcquire(params, { blob: gzipSync(Buffer.from('\x7fELF')) }), /no addon in this test/);
    assert.deepEqual(opened, ['native']);
  });
});
