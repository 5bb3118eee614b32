// The .vsix carries only what .vscodeignore allows: bundles, webview assets, grammar, manifest, README.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..', '..');

describe('extension package', () => {
  it('lists only allow-listed files (no sources, tests, maps or node_modules)', function () {
    this.timeout(60_000);
    const vsce = join(root, 'node_modules', '@vscode', 'vsce', 'vsce');
    const files = execFileSync(process.execPath, [vsce, 'ls', '--no-dependencies'], {
      cwd: root,
      encoding: 'utf8',
    })
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    assert.ok(files.includes('dist/extension.js'), `dist/extension.js missing from ${files.join(', ')}`);
    assert.ok(files.includes('dist/server.js'));
    assert.ok(files.includes('dist/cli.js'));
    // Trace Executable compiles the tracer (and its maps-only object) for the target's kernel at run time.
    for (const h of readdirSync(join(root, 'bpf', 'tracer')).filter((f) => f.endsWith('.h'))) assert.ok(files.includes(`bpf/tracer/${h}`), `the tracer header ${h} must ship`);
    assert.ok(files.includes('bpf/tracer/tracer_maps.bpf.c'), 'the tracer maps object source must ship');
    const allowed = [
      /^package\.json$/, /^README\.md$/, /^dist\/(extension|server|helper|cli)\.js$/, /^dist\/media\/[^/]+\.(js|css|ttf)$/,
      /^dist\/native\/[^/]+\.node$/, /^dist\/bpf\/[^/]+\.bpf\.o$/, /^bpf\/tracer\/[^/]+\.(h|bpf\.c)$/, /^media\/.+\.css$/, /^media\/[^/]+\.svg$/, /^syntaxes\/[^/]+\.json$/, /^schemas\/[^/]+\.json$/,
    ];
    const stray = files.filter((f) => !allowed.some((re) => re.test(f)));
    assert.deepEqual(stray, [], 'files outside the allow-list');
    // BPF objects: the enforcement probe the product loads, none of the test or benchmark objects.
    assert.deepEqual(files.filter((f) => f.endsWith('.bpf.o')), ['dist/bpf/exec_block.bpf.o']);
  });
});
