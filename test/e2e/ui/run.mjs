// UI scenarios: after the in-VS-Code suites, each test/e2e/ui/*.ui.mjs drives the workbench the way a
// user does (command palette, clicks, keys) in a fresh page of the same code-server, with the extension
// loaded from the repository (extensionDevelopmentPath only, no test runner inside). A scenario module:
//   export const title = '...';
//   export default async function (page, ctx) { ... }   // throws to fail
// Prints "e2e-ui: N passed, N failed" and fails on any failure, or when no scenario ran without --grep.
// They need the browser, so they run with code-server only (not under VSCODE_EXECUTABLE / test-electron).
import { readdirSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

// Generous: the recorded-session scenario took 135-156 s in CI runs (code-server under a loaded TCG VM).
const SCENARIO_TIMEOUT_MS = 300_000;

export async function runUiScenarios({ root, browser, serverUrl, port, workspace, grep }) {
  const dir = join(root, 'test', 'e2e', 'ui');
  const resultsDir = join(root, 'test-results');
  mkdirSync(resultsDir, { recursive: true });
  const files = readdirSync(dir).filter((f) => f.endsWith('.ui.mjs')).sort();
  const scenarios = [];
  for (const f of files) {
    const mod = await import(pathToFileURL(join(dir, f)).href);
    scenarios.push({ file: f, title: mod.title ?? f, run: mod.default });
  }
  const chosen = grep ? scenarios.filter((s) => new RegExp(grep).test(s.title)) : scenarios;
  if (grep && chosen.length === 0) {
    console.log(`e2e-ui: no scenario matches --grep ${grep}`);
    return;
  }
  if (chosen.length === 0) throw new Error(`e2e-ui: ran zero scenarios (no *.ui.mjs in ${dir}); a tier that runs nothing fails`);
  const remote = (p) => `vscode-remote://127.0.0.1:${port}${p}`;
  const payload = JSON.stringify([['extensionDevelopmentPath', remote(root)]]);
  const url = `${serverUrl}?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(payload)}`;
  let passed = 0;
  let failed = 0;
  console.log('\n  UI scenarios');
  for (const s of chosen) {
    const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
    const page = await context.newPage();
    const ctx = { root, workspace, resultsDir, url, title: s.title };
    const started = Date.now();
    let timer;
    try {
      await Promise.race([
        s.run(page, ctx),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`timed out after ${SCENARIO_TIMEOUT_MS / 1000} s`)), SCENARIO_TIMEOUT_MS);
        }),
      ]);
      passed++;
      console.log(`    ✔ ${s.title} (${Date.now() - started}ms)`);
    } catch (err) {
      failed++;
      console.log(`    ✗ ${s.title}\n      ${String(err?.stack ?? err).split('\n').slice(0, 8).join('\n      ')}`);
      await page.screenshot({ path: join(resultsDir, `failed-${s.file.replace(/\.ui\.mjs$/, '')}.png`) }).catch(() => undefined);
    } finally {
      clearTimeout(timer);
      await context.close().catch(() => undefined);
    }
  }
  console.log(`e2e-ui: ${passed} passed, ${failed} failed`);
  if (failed > 0) throw new Error(`e2e-ui: ${failed} scenario(s) failed`);
}
