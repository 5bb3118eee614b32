// The e2e tier: the extension and its mocha suites inside a real VS Code.
//   VSCODE_EXECUTABLE=/path/to/code  -> @vscode/test-electron drives that VS Code (desktop).
//   otherwise                        -> code-server (VS Code's workbench over HTTP) in headless chromium,
//                                       which works offline; see codeserver.mjs.
// The suites (out/test/e2e/*.test.js) run in the extension host through out/test/e2e/index.js, which
// closes on "e2e: N passed, N failed" and fails when no test ran.
import { createRequire } from 'node:module';
import { format } from 'node:util';
import { join } from 'node:path';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, homedir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { ensureCodeServer, startCodeServer, copyWorkspace } from './codeserver.mjs';
import { runUiScenarios } from './ui/run.mjs';
import { runUntrustedScenario, title as untrustedTitle } from './untrusted.mjs';

const require = createRequire(import.meta.url);
const SUITE_TIMEOUT_MS = 15 * 60_000;

export async function runE2eTier({ root, grep }) {
  const testsIndex = join(root, 'out', 'test', 'e2e', 'index.js');
  if (!existsSync(testsIndex)) throw new Error('e2e: out/test/e2e/index.js is missing; run npm run build');
  // Trace Executable brings up the built-in VM from inside VS Code: give it the VM tier's cache, so the
  // kernel and image prepared there are reused, and stop any VM the suites started.
  const cache = process.env.BPF_LSM_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'bpf-lsm-studio', 'test');
  const env = { BPF_LSM_CACHE: cache, ...(grep ? { BPF_LSM_E2E_GREP: grep } : {}) };
  const vmWasRunning = vmRunning(root, cache);
  try {
    if (process.env.VSCODE_EXECUTABLE) return await runWithTestElectron({ root, testsIndex, env });
    return await runWithCodeServer({ root, testsIndex, env });
  } finally {
    if (!vmWasRunning && vmRunning(root, cache)) {
      console.log('e2e: stopping the VM the suites started');
      spawnSync(process.execPath, [join(root, 'dist', 'cli.js'), 'vm', 'down'], { env: { ...process.env, BPF_LSM_CACHE: cache }, stdio: 'inherit' });
    }
  }
}

function vmRunning(root, cache) {
  const r = spawnSync(process.execPath, [join(root, 'dist', 'cli.js'), 'vm', 'status', '--json'], { env: { ...process.env, BPF_LSM_CACHE: cache }, encoding: 'utf8' });
  try {
    return JSON.parse(r.stdout).state === 'running';
  } catch {
    return false;
  }
}

/**
 * The workbench logs through the same channel as the suites. Offline, it reports every failed extension
 * gallery lookup with a stack; those and its start-up chatter are hidden unless BPF_LSM_E2E_VERBOSE is set.
 */
function isWorkbenchNoise(line) {
  return /ENOTFOUND|^\s+at |^\[(Service Worker|AgentHost|AccountPolicyGate)|^Creating a socket|Extension host \(Remote\)/.test(line);
}

async function runWithTestElectron({ root, testsIndex, env }) {
  const { runTests } = require('@vscode/test-electron');
  const scratch = mkdtempSync(join(tmpdir(), 'bpf-lsm-e2e-'));
  try {
    const workspace = copyWorkspace(root, scratch);
    await runTests({
      vscodeExecutablePath: process.env.VSCODE_EXECUTABLE,
      extensionDevelopmentPath: root,
      extensionTestsPath: testsIndex,
      extensionTestsEnv: env,
      launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust', '--user-data-dir', join(scratch, 'data')],
    });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function runWithCodeServer({ root, testsIndex, env }) {
  const { chromium } = require('playwright-core');
  const installed = ensureCodeServer();
  const server = await startCodeServer({ ...installed, env });
  let browser;
  const onSignal = () => {
    void server.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const workspace = copyWorkspace(root, server.scratch);
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      headless: true,
      args: [
        '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
      ],
    });
    if (env.BPF_LSM_E2E_GREP && new RegExp(env.BPF_LSM_E2E_GREP).test(untrustedTitle)) {
      // --grep untrusted: only the scenario with a code-server of its own.
      await runUntrustedScenario({ root, browser, installed: { ...installed, env }, grep: env.BPF_LSM_E2E_GREP });
      return;
    }
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    let finish;
    const exited = new Promise((resolve) => { finish = resolve; });
    await page.exposeFunction('codeAutomationExit', (code) => finish(code));
    await page.exposeFunction('codeAutomationLog', (_type, args) => {
      const line = Array.isArray(args) ? format(...args) : String(args);
      if (!process.env.BPF_LSM_E2E_VERBOSE && isWorkbenchNoise(line)) return;
      process.stdout.write(line.endsWith('\n') ? line : `${line}\n`);
    });
    const remote = (p) => `vscode-remote://127.0.0.1:${server.port}${p}`;
    const payload = JSON.stringify([
      ['extensionDevelopmentPath', remote(root)],
      ['extensionTestsPath', remote(testsIndex)],
    ]);
    const url = `${server.url}?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(payload)}`;
    console.log(`e2e: code-server on 127.0.0.1:${server.port} (pid ${server.pid}), VS Code workbench in headless chromium`);
    await page.goto(url);
    let timer;
    const code = await Promise.race([
      exited,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`e2e: the suite did not finish within ${SUITE_TIMEOUT_MS / 60000} minutes`)), SUITE_TIMEOUT_MS);
      }),
    ]).finally(() => clearTimeout(timer));
    if (code !== 0) throw new Error(`e2e: VS Code reported exit code ${code}`);
    // Then the UI scenarios (test/e2e/ui), each in a fresh page of the same code-server.
    await runUiScenarios({ root, browser, serverUrl: server.url, port: server.port, workspace, grep: env.BPF_LSM_E2E_GREP });
    // Last, in a code-server of its own with workspace trust on (this one runs with trust off).
    await runUntrustedScenario({ root, browser, installed: { ...installed, env }, grep: env.BPF_LSM_E2E_GREP });
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await browser?.close().catch(() => undefined);
    await server.stop();
  }
}
