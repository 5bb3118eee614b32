// Benchmarks: node bench/run.mjs [name...]. Runs every compiled out/bench/*.bench.js (or the named ones);
// each prints its own figures and ratios. Benchmarks measure; they do not pass or fail on speed.
import { execFileSync } from 'node:child_process';
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
execFileSync(process.execPath, [join(root, 'extension', 'build.mjs')], { stdio: 'inherit' });
const dir = join(root, 'out', 'bench');
const wanted = process.argv.slice(2);
const all = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.bench.js')).sort() : [];
const chosen = wanted.length ? all.filter((f) => wanted.some((w) => f.startsWith(w))) : all;
if (chosen.length === 0) {
  console.error(`no benchmark matched (${all.map((f) => f.replace('.bench.js', '')).join(', ') || 'none built'})`);
  process.exit(1);
}
for (const file of chosen) {
  console.log(`\n== ${file.replace('.bench.js', '')}`);
  execFileSync(process.execPath, [join(dir, file)], { stdio: 'inherit' });
}
