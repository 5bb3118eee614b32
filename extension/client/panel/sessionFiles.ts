// Saved trace sessions: JSON lines of TraceEvent, read back in batches (malformed lines skipped and
// counted) and written from the panel's store; the file pickers of bpfLsm.openTraceSession and
// bpfLsm.exportTraceSession (registered in tracingPanel.ts).
import * as vscode from 'vscode';
import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { createInterface } from 'node:readline';
import { basename, isAbsolute } from 'node:path';
import type { PanelModel } from '../../shared/panel/store';
import { isTraceEvent } from '../../shared/panel/savedFile';
import type { TraceEvent } from '../../shared/traceEvent';

/** Saved sessions are read and ingested in batches of this many events, yielding in between. */
const READ_BATCH = 10_000;

/**
 * Reads a saved session, handing its valid events over in batches; stops early once `wanted()` turns
 * false (another session started). Returns how many lines were skipped as malformed.
 */
export async function readSessionFile(uri: vscode.Uri, onBatch: (events: TraceEvent[]) => Promise<void>, wanted: () => boolean): Promise<{ skipped: number }> {
  let batch: TraceEvent[] = [];
  let skipped = 0;
  const take = (line: string): void => {
    if (!line.trim()) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      skipped++;
      return;
    }
    if (isTraceEvent(parsed)) {
      delete (parsed as { seq?: number }).seq;
      batch.push(parsed);
    } else skipped++;
  };
  const push = async (): Promise<void> => {
    const events = batch;
    batch = [];
    await onBatch(events);
  };
  if (uri.scheme === 'file') {
    const lines = createInterface({ input: createReadStream(uri.fsPath, { encoding: 'utf8' }), crlfDelay: Infinity });
    for await (const line of lines) {
      if (!wanted()) {
        lines.close();
        break;
      }
      take(line);
      if (batch.length >= READ_BATCH) await push();
    }
  } else {
    const text = new TextDecoder().decode(await vscode.workspace.fs.readFile(uri));
    for (const line of text.split('\n')) {
      take(line);
      if (batch.length >= READ_BATCH) await push();
    }
  }
  if (wanted() && batch.length) await push();
  return { skipped };
}

/** Writes every event of the store, then `held` (events not yet in the store), as JSON lines. */
export async function writeSessionFile(uri: vscode.Uri, model: PanelModel, held: readonly TraceEvent[]): Promise<void> {
  const lines = function* (): Generator<string> {
    const chunk: string[] = [];
    for (let i = 0; i < model.size; i++) {
      chunk.push(JSON.stringify(model.event(i, false)));
      if (chunk.length === 5000) yield `${chunk.splice(0).join('\n')}\n`;
    }
    if (chunk.length) yield `${chunk.join('\n')}\n`;
  };
  const heldLines = held.map((e) => JSON.stringify(e));
  const tail = heldLines.length ? `${heldLines.join('\n')}\n` : '';
  if (uri.scheme === 'file') {
    const out = createWriteStream(uri.fsPath, { encoding: 'utf8' });
    for (const text of lines()) if (!out.write(text)) await once(out, 'drain');
    out.end(tail);
    await finished(out);
  } else {
    await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode([...lines()].join('') + tail));
  }
}

export async function pickSavedSession(): Promise<vscode.Uri | undefined> {
  const files = await vscode.workspace.findFiles('**/*.jsonl', '**/node_modules/**', 200);
  const browse = { label: '$(folder-opened) Browse…', description: 'choose a file', uri: undefined as vscode.Uri | undefined };
  const items = [
    ...files.map((uri) => ({ label: `$(pulse) ${basename(uri.path)}`, description: vscode.workspace.asRelativePath(uri, true), uri })),
    browse,
  ];
  const picked = await vscode.window.showQuickPick(items, { title: 'BPF-LSM: Open Saved Trace Session', placeHolder: 'A trace session saved as JSON lines (.jsonl)', matchOnDescription: true });
  if (!picked) return undefined;
  if (picked.uri) return picked.uri;
  const chosen = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'Trace sessions': ['jsonl'], 'All files': ['*'] }, title: 'Open Saved Trace Session' });
  return chosen?.[0];
}

export function asUri(arg: unknown): vscode.Uri | undefined {
  if (arg instanceof vscode.Uri) return arg;
  if (typeof arg === 'string' && arg) return isAbsolute(arg) ? vscode.Uri.file(arg) : vscode.Uri.parse(arg);
  return undefined;
}
