// Feature: Trace Executable. Picks a program and its arguments, runs it stopped on the active target,
// traces every LSM hook it and its children reach, and streams the decoded events into the tracing panel.
// Commands: bpfLsm.traceExecutable (optional argument { program, args?, cwd?, asRoot? } for automation),
// bpfLsm.loadTracer (opens the connection and loads the tracer ahead of a trace; Start VM runs it).
// The tracer stays resident on the target (./residentTracer.ts), so only the first trace there pays for
// load and attach; later traces, from this window or elsewhere, start in milliseconds.
import * as vscode from 'vscode';
import { Studio } from './studio';
import { TargetService } from './targets';
import { TracingPanel } from './panel/host';
import { TargetConnection } from './targetConnection';
import { configuredHooksIdleMs, configuredIdleMs, registerResidentTracer, ResidentTracerItem } from './residentTracer';
import { TracerSession } from '../core/trace/tracerSession';
import { traceProgram } from '../core/trace/traceProgram';

const RECENT_KEY = 'bpfLsm.recentPrograms';
const SUGGESTED = ['/usr/bin/ls', '/bin/sh', '/bin/cat', '/usr/bin/id'];

export interface TraceRequest {
  program: string;
  args?: string[];
  cwd?: string;
  asRoot?: boolean;
}

/** Splits an argument line the way a shell would for words, single and double quotes, and backslashes. */
export function splitArguments(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < line.length) cur += line[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote) throw new Error(`unterminated ${quote} quote in the arguments`);
  if (inWord) out.push(cur);
  return out;
}

/**
 * This window's connection to the tracer on the current target: opened on first use (reopening the resident
 * tracer, or loading and attaching it), then kept, so later traces only add their process to its filter.
 */
function warmTracer(studio: Studio, targets: TargetService, item: ResidentTracerItem): TargetConnection<TracerSession> {
  return new TargetConnection(studio, targets, {
    async open(target, progress) {
      const idleMs = configuredIdleMs(target);
      const session = await TracerSession.connect(target, progress, { idleMs, hooksIdleMs: configuredHooksIdleMs(), attachIdle: true });
      try {
        const state = await session.prepare({}, progress);
        const t = state.timings;
        studio.log(
          state.resident
            ? `tracer resident on ${target.id}: ${state.attached.length} of ${state.hookCount} hooks, kernel ${state.kernel} (reopened in ${t.acquireMs} ms)`
            : `tracer attached on ${target.id}: ${state.attached.length} of ${state.hookCount} hooks, kernel ${state.kernel} ` +
                `(BTF ${t.btfMs} ms, compile ${state.fromCache ? 'cached' : `${t.compileMs} ms`}, load ${t.loadMs} ms, attach ${t.attachMs} ms); it stays attached for later traces`,
        );
        for (const s of state.notTraced) studio.log(`  not traced: ${s.hook}: ${s.reason}`);
        item.shown(target, state, idleMs);
        return session;
      } catch (err) {
        await session.dispose();
        throw err;
      }
    },
    closed: (session) => session.client.closed,
    close: (session) => session.dispose(),
    // The helper went away (VM stopped, ssh dropped): the next trace reconnects.
    onGone: (id, reason, lost) => lost && studio.output.warn(`tracer connection to ${id} closed: ${reason}`),
  });
}

async function askForProgram(studio: Studio): Promise<TraceRequest | undefined> {
  const recent = studio.context.globalState.get<string[]>(RECENT_KEY, []);
  const items: Array<vscode.QuickPickItem & { program?: string }> = [
    ...recent.map((p) => ({ label: p, description: 'recent', program: p })),
    ...SUGGESTED.filter((p) => !recent.includes(p)).map((p) => ({ label: p, program: p })),
  ];
  const pick = await new Promise<string | undefined>((resolve) => {
    const qp = vscode.window.createQuickPick<(typeof items)[number]>();
    qp.title = 'BPF-LSM: Trace Executable (1/2)';
    qp.placeholder = 'Program to trace on the target: an absolute path, or pick a recent one';
    qp.items = items;
    qp.onDidChangeValue((v) => {
      // What the user types is offered as-is, so any path works, not only the listed ones.
      qp.items = v && !items.some((i) => i.label === v) ? [{ label: v, description: 'trace this program', program: v }, ...items] : items;
    });
    qp.onDidAccept(() => {
      resolve(qp.selectedItems[0]?.program ?? (qp.value || undefined));
      qp.hide();
    });
    qp.onDidHide(() => {
      resolve(undefined);
      qp.dispose();
    });
    qp.show();
  });
  if (!pick) return undefined;
  const line = await vscode.window.showInputBox({
    title: 'BPF-LSM: Trace Executable (2/2)',
    prompt: `Arguments for ${pick} (quoted like in a shell; empty for none)`,
    validateInput: (v) => {
      try {
        splitArguments(v);
        return undefined;
      } catch (err) {
        return err instanceof Error ? err.message : String(err);
      }
    },
  });
  if (line === undefined) return undefined;
  return { program: pick, args: splitArguments(line) };
}

export function registerTraceExecutable(studio: Studio, targets: TargetService): void {
  const item = new ResidentTracerItem();
  const warm = warmTracer(studio, targets, item);
  studio.ownAsync(() => warm.reset('the window closed'));
  studio.own(warm);
  registerResidentTracer(studio, targets, warm, item);

  // What Start VM runs after a boot (bpfLsm.vm.loadTracerOnStart): this window's tracer connection opened
  // ahead of the first trace, with the load shown in the status bar's progress.
  studio.command('loadTracer', async () =>
    vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'BPF-LSM: loading the tracer' }, async (progress) => {
      const session = await warm.get((message) => {
        progress.report({ message });
        studio.log(message);
      });
      const state = session.state;
      return { target: session.target.id, kernel: state?.kernel, hooks: state?.attached.length ?? 0, loaded: state ? !state.resident : false };
    }),
  );

  studio.command('traceExecutable', async (arg?: unknown) => {
    const request = isTraceRequest(arg) ? arg : await askForProgram(studio);
    if (!request) return undefined;
    const argv = [request.program, ...(request.args ?? [])];
    const recent = studio.context.globalState.get<string[]>(RECENT_KEY, []);
    await studio.context.globalState.update(RECENT_KEY, [request.program, ...recent.filter((p) => p !== request.program)].slice(0, 10));

    return vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `BPF-LSM: tracing ${argv.join(' ')}`, cancellable: true },
      async (progress, token) => {
        const report = (message: string) => {
          progress.report({ message });
          studio.log(message);
        };
        let session = await warm.get(report);
        // Released since this window connected (tracer stop, idle time, another window): reconnect.
        if (!(await session.stillResident().catch(() => false))) {
          await warm.reset('the resident tracer was released');
          session = await warm.get(report);
        }
        const panel = TracingPanel.show(studio, { preserveFocus: true });
        panel.startSession({ title: argv.join(' '), detail: `target ${session.target.id}, kernel ${session.state?.kernel ?? 'unknown'}` });
        const controller = new AbortController();
        const cancel = token.onCancellationRequested(() => controller.abort());
        report(`running ${request.program}`);
        try {
          const summary = await traceProgram(
            session,
            { argv, cwd: request.cwd, asRoot: request.asRoot, signal: controller.signal, onOutput: (_stream, text) => studio.output.append(text) },
            (events) => panel.append(events),
          );
          if (summary.drops.kernel) panel.reportDrops('kernel', summary.drops.kernel);
          if (summary.drops.helper) panel.reportDrops('helper', summary.drops.helper);
          if (summary.drops.undecodable) panel.reportDrops('client', summary.drops.undecodable);
          const status = summary.exitSignal ? `killed by ${summary.exitSignal}` : `exit ${summary.exitCode}`;
          panel.endSession({ detail: `${status}, ${summary.delivered.toLocaleString()} events` });
          studio.log(`trace of ${argv.join(' ')}: ${status}, ${summary.delivered} events, drops ${JSON.stringify(summary.drops)}`);
          return { exitCode: summary.exitCode, events: summary.delivered, drops: summary.drops, perHook: Object.fromEntries(summary.perHook) };
        } catch (err) {
          panel.endSession({ detail: `failed: ${err instanceof Error ? err.message : String(err)}` });
          throw err;
        } finally {
          cancel.dispose();
        }
      },
    );
  });
}

function isTraceRequest(v: unknown): v is TraceRequest {
  return typeof v === 'object' && v !== null && typeof (v as TraceRequest).program === 'string';
}
