// Test entry: node test/run.mjs <tier...> [--grep PATTERN]
//   unit  plain node: parsers, generators, decoders, protocol (no VS Code, no kernel)
//   e2e   the extension inside a real VS Code (test-electron when VSCODE_EXECUTABLE is set, else code-server)
//   vm    the real BPF-LSM kernel in the built-in VM
// Builds first, runs the tiers in order, stops at the first failing tier. Each tier fails when it ran zero tests.
import { execFileSync } from 'node:child_process';
import { readdirSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const grepAt = args.indexOf('--grep');
const grep = grepAt >= 0 ? args.splice(grepAt, 2)[1] : undefined;
const tiers = args.length ? args : ['unit'];

function compiledTests(tier) {
  const dir = join(root, 'out', 'test', tier);
  const found = [];
  const walk = (d) => {
    if (!existsSync(d)) return;
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.test.js')) found.push(p);
    }
  };
  walk(dir);
  return found;
}

if (!process.env.BPF_LSM_SKIP_BUILD) {
  // A fresh machine gets what the chosen tiers need first (Debian packages as root, npm ci).
  const { ensureDebianPackages, ensureNpmDependencies } = await import('../extension/prepare.mjs');
  try {
    ensureDebianPackages(['build', ...tiers.filter((t) => t === 'vm' || t === 'e2e')]);
    ensureNpmDependencies();
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
  execFileSync(process.execPath, [join(root, 'extension', 'build.mjs')], { stdio: 'inherit' });
}

const { runMocha } = require('./harness.cjs');
let failed = false;
for (const tier of tiers) {
  const tierStarted = Date.now();
  try {
    if (tier === 'unit') {
      await runMocha({ tier, files: compiledTests('unit'), grep });
    } else if (tier === 'vm') {
      const { runVmTier } = await import('./vm/runner.mjs');
      await runVmTier({ root, files: compiledTests('vm'), grep, runMocha });
    } else if (tier === 'e2e') {
      const { runE2eTier } = await import('./e2e/runner.mjs');
      await runE2eTier({ root, grep });
    } else {
      throw new Error(`unknown test tier "${tier}" (use unit, e2e or vm)`);
    }
  } catch (err) {
    console.error(String(err?.message ?? err));
    failed = true;
    break;
  } finally {
    // CI budgets are per run; every tier says what it cost (VM boots and code-server install included).
    console.log(`${tier}: tier took ${((Date.now() - tierStarted) / 1000).toFixed(0)} s`);
  }
}
process.exit(failed ? 1 : 0);
