// The untrusted-workspace check, in a code-server of its own with workspace trust on: a folder whose
// .vscode/settings.json names an ssh target and a BTF path opens in Restricted Mode, and neither is used.
// "No ssh": `ssh` on the extension host's PATH is a script that records every call. "No read": the BTF path
// is a FIFO, and this process looks for a reader on it (a blocking open for reading is what a read does).
// The scenario also presses the tracing panel's "Trace Executable…" button, which reaches the command
// handler without the manifest's enablement: the handler itself must refuse it.
import { chmodSync, closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startCodeServer } from './codeserver.mjs';
import { openWorkbench, runCommand, until, webviewContent } from './ui/workbench.mjs';

export const title = 'untrusted workspace: a workspace ssh target and BTF path start no ssh and read nothing';

/** The extension's output channel as the workbench logged it (under the code-server's scratch folder). */
function extensionLog(scratch) {
  const found = [];
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name === 'BPF-LSM Studio.log') found.push(join(d, e.name));
    }
  };
  if (existsSync(join(scratch, 'data', 'logs'))) walk(join(scratch, 'data', 'logs'));
  return found.map((f) => readFileSync(f, 'utf8')).join('\n');
}

/** True when some process has the FIFO open for reading (an O_NONBLOCK open for writing then succeeds). */
function fifoHasReader(fifo) {
  try {
    closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
    return true;
  } catch (err) {
    if (err.code === 'ENXIO') return false;
    throw err;
  }
}

export async function runUntrustedScenario({ root, browser, installed, grep }) {
  if (grep && !new RegExp(grep).test(title)) return;
  const started = Date.now();
  const traps = mkdtempSync(join(tmpdir(), 'bpf-lsm-untrusted-'));
  const sshLog = join(traps, 'ssh-calls.log');
  const fifo = join(traps, 'vmlinux-fifo');
  const bin = join(traps, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'ssh'), `#!/bin/sh\nprintf "%s\\n" "ssh $*" >> '${sshLog}'\nexit 255\n`);
  chmodSync(join(bin, 'ssh'), 0o755);
  let server;
  let context;
  try {
    server = await startCodeServer({ ...installed, trust: true, env: { ...installed.env, PATH: `${bin}:${process.env.PATH}` } });
    const ws = join(server.scratch, 'untrusted-workspace');
    mkdirSync(join(ws, '.vscode'), { recursive: true });
    // A probe whose first lines name a hook no kernel has: the server's diagnostic shows it read its BTF.
    const probe = readFileSync(join(root, 'test', 'fixtures', 'probes', 'good.bpf.c'), 'utf8');
    writeFileSync(join(ws, 'probe.bpf.c'), probe.replace(/^(char LICENSE\[\].*)$/m, '$1\n\nSEC("lsm/no_such_hook_untrusted")\nint BPF_PROG(untrusted_probe) { return 0; }'));
    execFileSync('mkfifo', [fifo]);
    writeFileSync(join(ws, '.vscode', 'settings.json'), JSON.stringify({ 'bpfLsm.target': 'ssh:attacker-host.example', 'bpfLsm.btfPath': fifo }, null, 2));

    const remote = (p) => `vscode-remote://127.0.0.1:${server.port}${p}`;
    const payload = JSON.stringify([['extensionDevelopmentPath', remote(root)]]);
    const url = `${server.url}?folder=${encodeURIComponent(ws)}&payload=${encodeURIComponent(payload)}`;
    context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
    const page = await context.newPage();
    let fifoRead = false;
    const watch = setInterval(() => (fifoRead ||= fifoHasReader(fifo)), 50);
    try {
      await openWorkbench(page, { url });
      await page.locator('.statusbar-item', { hasText: 'Restricted Mode' }).first().waitFor({ state: 'visible', timeout: 60_000 });
      // Open the probe: the extension is active and its language server answers for it.
      await page.keyboard.press('Control+P');
      await page.locator('.quick-input-widget input').fill('probe.bpf.c');
      await page.locator('.quick-input-list .monaco-list-row', { hasText: 'probe.bpf.c' }).first().waitFor({ state: 'visible', timeout: 30_000 });
      await page.keyboard.press('Enter');
      // The target's status item has settled (restricted; or, where the workspace's target is used, done
      // probing it) and the server flagged the unknown hook: both ran with the settings they use.
      const restricted = page.locator('.statusbar-item', { hasText: 'restricted' }).first();
      const attacker = page.locator('.statusbar-item', { hasText: 'attacker-host' }).first();
      await until(
        async () => (await restricted.count()) > 0 || existsSync(sshLog) || ((await attacker.count()) > 0 && !(await attacker.innerHTML()).includes('spin')),
        'the target status item settled',
        90_000,
      );
      const check = () => {
        if (existsSync(sshLog)) throw new Error(`ssh ran in an untrusted workspace: ${readFileSync(sshLog, 'utf8').trim()}`);
        if (fifoRead) throw new Error(`the workspace's bpfLsm.btfPath (${fifo}) was opened for reading in an untrusted workspace`);
        // The language server logs which BTF it read (or failed to read) in the extension's output.
        if (extensionLog(server.scratch).includes(fifo)) throw new Error(`the workspace's bpfLsm.btfPath (${fifo}) was used in an untrusted workspace`);
      };
      await until(async () => {
        check();
        return (await page.locator('.squiggly-error, .squiggly-warning').count()) > 0;
      }, 'the language server diagnosed the probe', 90_000).catch((err) => {
        check();
        throw err;
      });
      check();
      if ((await restricted.count()) === 0) throw new Error(`the target status item does not say restricted`);

      // The panel's button goes around the manifest's enablement; the handler refuses.
      await runCommand(page, 'BPF-LSM: Show Tracing Panel');
      await webviewContent(page).locator('#empty-trace').click({ timeout: 60_000 });
      // The handler's refusal is in the extension's output (the warning it shows is a notification, which
      // this headless workbench does not always render), and no program picker opened.
      await until(() => /Trace Executable: refused in Restricted Mode/.test(extensionLog(server.scratch)), 'the Trace Executable handler to refuse', 30_000);
      if (await page.locator('.quick-input-widget').isVisible()) throw new Error('Trace Executable asked for a program in Restricted Mode');
      check();
    } catch (err) {
      mkdirSync(join(root, 'test-results'), { recursive: true });
      console.log(`      the extension's output:\n${extensionLog(server.scratch).trim().split('\n').slice(-15).join('\n')}`);
      await page.screenshot({ path: join(root, 'test-results', 'failed-untrusted.png') }).catch(() => undefined);
      throw err;
    } finally {
      clearInterval(watch);
    }
    console.log(`    ✔ ${title} (${Date.now() - started}ms; ssh calls: 0, reads of the BTF path: 0)`);
  } catch (err) {
    console.log(`    ✗ ${title}\n      ${String(err?.stack ?? err).split('\n').slice(0, 8).join('\n      ')}`);
    throw new Error('e2e-untrusted: the scenario failed');
  } finally {
    await context?.close().catch(() => undefined);
    await server?.stop();
    rmSync(traps, { recursive: true, force: true });
  }
}
