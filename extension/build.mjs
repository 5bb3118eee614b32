// The one build: every bundle of the product and its tests, with esbuild.
//   node extension/build.mjs            build once
//   node extension/build.mjs --watch    rebuild on change
// Type checking is separate (npm run typecheck), so a build never waits on tsc.
import * as esbuild from 'esbuild';
import { readdirSync, existsSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildNative } from '../native/build.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const watch = process.argv.includes('--watch');

/** Every `*.test.ts` / `*.bench.ts` (and a tier's index.ts) below a folder of the repository. */
function testEntries(folder) {
  const dir = join(root, folder);
  if (!existsSync(dir)) return [];
  const found = [];
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.test.ts') || name.endsWith('.bench.ts') || name === 'index.ts') found.push(relative(root, p));
    }
  };
  walk(dir);
  return found;
}

const common = {
  bundle: true,
  sourcemap: true,
  logLevel: 'warning',
  absWorkingDir: root,
  target: 'node18',
  platform: 'node',
  format: 'cjs',
  // The native addon is loaded from disk at run time (it is per-platform and ships beside the bundle).
  external: ['vscode', '*.node'],
};

const builds = [
  { ...common, entryPoints: { extension: 'extension/client/extension.ts' }, outdir: 'dist' },
  { ...common, entryPoints: { server: 'extension/server/server.ts' }, outdir: 'dist' },
  { ...common, entryPoints: { helper: 'extension/helper/helper.ts' }, outdir: 'dist' },
  {
    ...common,
    entryPoints: { cli: 'extension/cli/cli.ts' },
    outdir: 'dist',
    banner: { js: '#!/usr/bin/env node' },
  },
  {
    ...common,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    external: [],
    entryPoints: { panel: 'media/panel.ts' },
    outdir: 'dist/media',
    // panel.ts imports panel.css, which imports the codicon font: emitted beside them as codicon.ttf.
    loader: { '.ttf': 'file' },
    assetNames: '[name]',
  },
  // Tests: one bundle per file so mocha sees each suite's file name; mocha itself stays external.
  ...['test/unit', 'test/e2e', 'test/vm', 'bench'].map((tier) => ({
    ...common,
    entryPoints: testEntries(tier),
    outbase: '.',
    outdir: 'out',
    external: [...common.external, 'mocha'],
  })).filter((b) => b.entryPoints.length > 0),
];

// The libbpf addon, BPF objects and bench consumers (skipped when up to date); esbuild does not see them.
try {
  buildNative(root);
} catch (err) {
  console.error(err.message);
  process.exit(1);
}

if (watch) {
  for (const b of builds) await (await esbuild.context(b)).watch();
  console.log('watching for changes');
} else {
  const started = Date.now();
  await Promise.all(builds.map((b) => esbuild.build(b)));
  console.log(`built ${builds.length} bundles in ${Date.now() - started} ms`);
}
