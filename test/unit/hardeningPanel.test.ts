// Hostile kernel strings on their way to the tracing panel (issue 9): invalid UTF-8, control characters,
// HTML and 64 KiB names decode to plain display text, travel through the panel model unchanged and
// bounded, and the webview code has no HTML sink they could reach. (The rendered webview is checked in
// test/e2e/ui/hostile.ui.mjs.) Each case prints its figure.
import * as assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeText } from '../../extension/shared/tracer/decoder';
import { PanelModel } from '../../extension/shared/panel/store';
import type { TraceEvent } from '../../extension/shared/traceEvent';

const root = join(__dirname, '..', '..', '..');
const bytes = (...parts: Array<string | number[]>) => Uint8Array.from(parts.flatMap((p) => (typeof p === 'string' ? [...Buffer.from(p, 'latin1')] : p)));

describe('hardening: hostile strings for the tracing panel', () => {
  it('decodes invalid UTF-8 and control characters from the kernel as visible, inert text', () => {
    const cases: Array<[string, Uint8Array, RegExp]> = [
      ['lone continuation bytes', bytes('a', [0x80, 0xbf], 'b'), /^a\uFFFD+b$/],
      ['truncated 3-byte sequence', bytes('x', [0xe2, 0x82]), /^x\uFFFD+$/],
      ['overlong slash', bytes([0xc0, 0xaf], 'etc'), /^\uFFFD+etc$/],
      ['0xff 0xfe', bytes([0xff, 0xfe]), /^\uFFFD\uFFFD$/],
      ['escape sequence', bytes('\x1b[31mred\x1b[0m'), /^\\x1b\[31mred\\x1b\[0m$/],
      ['carriage return and bell', bytes('ok\rfake\x07'), /^ok\\x0dfake\\x07$/],
      ['DEL and C1', bytes('a\x7f', [0xc2, 0x9b], 'b'), /^a\\x7f\\x9bb$/],
      ['NUL ends the string', bytes('shown', [0], 'hidden'), /^shown$/],
    ];
    for (const [name, b, expect] of cases) {
      const text = decodeText(b, 0, b.length);
      assert.match(text, expect, name);
      assert.doesNotMatch(text, /[\u0000-\u001f\u007f-\u009f]/, `${name}: a raw control character survived`);
    }
    const big = new Uint8Array(64 << 10).fill(0x41);
    const t = Date.now();
    const name = decodeText(big, 0, big.length);
    const mixed = decodeText(Uint8Array.from({ length: 64 << 10 }, (_, i) => (i % 7 === 0 ? 0xff : i % 5 === 0 ? 0x1b : 0x61)), 0, 64 << 10);
    const ms = Date.now() - t;
    assert.equal(name.length, 64 << 10);
    assert.doesNotMatch(mixed, /[\u0000-\u001f]/);
    console.log(`      panel: ${cases.length} invalid UTF-8/control cases decoded as inert text; two 64 KiB names decoded in ${ms} ms (${name.length} and ${mixed.length} chars)`);
  });

  it('keeps hostile names unchanged as data through the model, with bounded summaries', () => {
    const huge = `<img src=x onerror=alert(1)>${'\u202e'.repeat(8)}${'A'.repeat(64 << 10)}`;
    const control = 'evil\\x1b[2J\\x0dname';
    const events: TraceEvent[] = [
      { kind: 'hook', hook: 'file_open', syscall: 'openat', args: { file: { path: `/tmp/${huge}` } }, ret: 0, time: 1, pid: 7, tgid: 7, comm: huge },
      { kind: 'process', what: 'exec', filename: `/bin/${control}\uFFFD\ud800`, time: 2, pid: 7, tgid: 7, comm: control },
    ];
    const m = new PanelModel();
    const t = Date.now();
    m.append(events);
    const rows = structuredClone(m.panelRows(0, 2));
    const ms = Date.now() - t;
    assert.equal(rows.length, 2);
    const [first, second] = rows.map((r) => (r.type === 'event' ? r : assert.fail(`row of type ${r.type}`)));
    assert.equal(first.comm, huge, 'the name is passed on as data, not rewritten');
    assert.ok(first.summary.length <= 200, `a summary of ${first.summary.length} characters`);
    assert.ok(first.summary.startsWith('file=/tmp/<img src=x onerror=alert(1)>'));
    assert.equal(second.comm, control);
    assert.ok(second.summary.includes('\\x1b[2J'));
    const bytesOut = Buffer.byteLength(JSON.stringify(rows));
    console.log(`      panel: a ${(huge.length / 1024).toFixed(0)} KiB HTML/RTL name and a control-escaped name -> 2 rows (${bytesOut} bytes as JSON, summaries ${first.summary.length} and ${second.summary.length} chars) in ${ms} ms`);
  });

  it('has no HTML sink in the webview code: kernel strings can only become text', () => {
    const dir = join(root, 'media');
    const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
    assert.ok(files.length > 0);
    let textWrites = 0;
    for (const f of files) {
      const source = readFileSync(join(dir, f), 'utf8');
      for (const sink of ['innerHTML', 'outerHTML', 'insertAdjacentHTML', 'document.write', 'createContextualFragment', 'new Function', 'eval(', 'srcdoc', 'DOMParser']) {
        assert.ok(!source.includes(sink), `${f} uses ${sink}`);
      }
      textWrites += (source.match(/\.textContent\s*=|\.createTextNode\(|\.data\s*=/g) ?? []).length;
    }
    assert.ok(textWrites > 0);
    console.log(`      panel: ${files.length} webview source file(s), 0 HTML sinks, ${textWrites} text writes`);
  });
});
