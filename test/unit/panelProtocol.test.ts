// The panel's host trusts only messages of a known type from its webview; rows sent to the webview are
// plain JSON (structured-clone safe) and carry kernel strings untouched, for the webview to show as text.
import * as assert from 'node:assert/strict';
import { isWebviewMessage, webviewMessageProblem, WebviewToHost } from '../../extension/shared/panelProtocol';
import { PanelModel } from '../../extension/shared/panel/store';

describe('panel protocol', () => {
  it('accepts every webview message type and nothing else', () => {
    const good: WebviewToHost[] = [
      { type: 'ready' },
      { type: 'viewport', requestId: 1, first: 0, count: 40 },
      { type: 'setFilter', filter: { hooks: ['file_open'] } },
      { type: 'setGrouping', grouping: 'syscall' },
      { type: 'toggleGroup', group: 3, expanded: false },
      { type: 'select', seq: 1 },
      { type: 'openSource', seq: 1, preserveFocus: true },
      { type: 'openHookDoc', hook: 'file_open' },
      { type: 'setPaused', paused: true },
      { type: 'setFollow', follow: false },
      { type: 'action', action: 'export' },
      { type: 'queryResult', requestId: 2, rendered: { rowsInDom: 0, rows: [], details: '', dropBanner: '', emptyStateVisible: true, histogram: [], list: { first: 0, visible: 1, total: 0, cacheFirst: 0, cacheRows: 0, cacheVersion: 0, stateVersion: 0 } } },
    ];
    for (const m of good) assert.ok(isWebviewMessage(m), m.type);
    for (const bad of [null, undefined, 'ready', 1, {}, { type: 'update' }, { type: 'rows' }, { type: 'eval', code: 'x' }, { kind: 'ready' }]) {
      assert.equal(isWebviewMessage(bad), false, JSON.stringify(bad));
    }
  });

  it('checks every field of a webview message like a helper request: types, ranges, sizes, no extra fields', () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ type: 'ready', evil: 1 }, /unknown field "evil"/],
      [{ type: 'select', seq: '1' }, /seq must be an integer/],
      [{ type: 'select' }, /seq is required/],
      [{ type: 'viewport', requestId: 1, first: -1, count: 1 }, /first must be from 0/],
      [{ type: 'viewport', requestId: 1, first: 0, count: 1e9 }, /count must be from 0 to 100000/],
      [{ type: 'openSource', seq: 1, preserveFocus: 'yes' }, /preserveFocus must be true or false/],
      [{ type: 'openHookDoc', hook: '../../etc/passwd' }, /hook is not a hook name/],
      [{ type: 'action', action: 'rm -rf' }, /action must be one of/],
      [{ type: 'setGrouping', grouping: { toString: 1 } }, /grouping must be one of/],
      [{ type: 'toggleGroup', group: 1 }, /expanded is required/],
      [{ type: 'setFilter', filter: { text: 'x'.repeat(5000) } }, /text is longer than 4096/],
      [{ type: 'setFilter', filter: { pid: 1.5 } }, /pid must be an integer/],
      [{ type: 'setFilter', filter: { kinds: ['hook', 'shell'] } }, /kinds\[1\] must be one of/],
      [{ type: 'setFilter', filter: JSON.parse('{"__proto__": {"polluted": true}}') }, /unknown field "__proto__"/],
      [{ type: 'setFilter', filter: { hooks: Array.from({ length: 5000 }, () => 'file_open') } }, /at most 4096/],
      [{ type: 'toString' }, /unknown message type/],
      [{ type: 'queryResult', requestId: 1, rendered: JSON.parse('[[[[[[[[[[1]]]]]]]]]]') }, /nested deeper/],
    ];
    for (const [m, expect] of bad) {
      assert.equal(isWebviewMessage(m), false, JSON.stringify(m).slice(0, 80));
      assert.match(webviewMessageProblem(m) ?? '', expect, JSON.stringify(m).slice(0, 80));
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('sends kernel strings unchanged in rows that survive structured cloning', () => {
    const hostile = '<img src=x onerror=alert(1)>';
    const m = new PanelModel();
    m.append([
      { kind: 'hook', hook: 'file_open', syscall: 'openat', args: { file: { path: `/tmp/${hostile}` } }, ret: -13, time: 10, pid: 1, tgid: 1, comm: hostile },
      { kind: 'process', what: 'exec', filename: '<script>x</script>', time: 20, pid: 1, tgid: 1, comm: hostile },
    ]);
    const rows = structuredClone(m.panelRows(0, 2));
    assert.deepEqual(rows.map((r) => r.type === 'event' && [r.comm, r.summary, r.ret, r.denied]), [
      [hostile, `file=/tmp/${hostile}`, '-13 EACCES', true],
      [hostile, 'exec <script>x</script>', '', false],
    ]);
  });
});
