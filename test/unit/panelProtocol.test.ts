// The panel's host trusts only messages of a known type from its webview; rows sent to the webview are
// plain JSON (structured-clone safe) and carry kernel strings untouched, for the webview to show as text.
import * as assert from 'node:assert/strict';
import { isWebviewMessage, WebviewToHost } from '../../extension/shared/panelProtocol';
import { PanelModel } from '../../extension/shared/panelModel';

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
