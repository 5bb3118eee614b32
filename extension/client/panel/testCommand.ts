// The test-only command bpfLsm._panelTest: lets the e2e suites see and drive the tracing panel from the
// extension host. Operations: state, rendered, post, rows, reveal, start, append, drops, end. Registered only
// when BPF_LSM_TEST is set or VS Code runs extension tests (see tracingPanel.ts).
import * as vscode from 'vscode';
import type { DropSite } from '../../shared/panelProtocol';
import { isWebviewMessage } from '../../shared/panelProtocol';
import type { TraceEvent } from '../../shared/traceEvent';
import type { Studio } from '../studio';
import { TracingPanel, type TraceSessionInfo, type TraceSessionSummary } from './host';

const TEST_COMMAND = 'bpfLsm._panelTest';

/**
 * Lets the e2e suites see and drive the panel from the extension host: `state` (the host's view),
 * `rendered` (what the webview shows, asked over the protocol), `post` (act as the webview would),
 * `activeEditor` (where a source link landed). Never registered for users.
 */
export function registerTestCommand(studio: Studio): void {
  studio.own(
    vscode.commands.registerCommand(TEST_COMMAND, async (op: string, arg?: unknown) => {
      const panel = TracingPanel.current;
      switch (op) {
        case 'state':
          return panel ? { ...panel.snapshot(), open: panel.isOpen } : undefined;
        case 'rendered':
          if (!panel) throw new Error('the tracing panel was never shown');
          return panel.queryRendered();
        case 'post':
          if (!panel) throw new Error('the tracing panel was never shown');
          if (!isWebviewMessage(arg)) throw new Error(`not a webview message: ${JSON.stringify(arg)}`);
          await panel.handle(arg);
          return { ...panel.snapshot(), open: panel.isOpen };
        case 'rows': {
          if (!panel) throw new Error('the tracing panel was never shown');
          const { first, count } = arg as { first: number; count: number };
          return panel.model.panelRows(first, count);
        }
        case 'reveal': {
          if (!panel) throw new Error('the tracing panel was never shown');
          const { row, select } = arg as { row: number; select: boolean };
          panel.revealRow(row, select);
          return undefined;
        }
        // The live-trace integration's calls, one by one, as the trace stream will make them.
        case 'start':
          TracingPanel.show(studio, { preserveFocus: true }).startSession(arg as TraceSessionInfo);
          return undefined;
        case 'append':
          if (!panel) throw new Error('no session: call start first');
          panel.append(arg as TraceEvent[]);
          return undefined;
        case 'drops': {
          if (!panel) throw new Error('no session: call start first');
          const { where, count } = arg as { where: DropSite; count: number };
          panel.reportDrops(where, count);
          return undefined;
        }
        case 'end':
          panel?.endSession(arg as TraceSessionSummary);
          return undefined;
        default:
          throw new Error(`unknown ${TEST_COMMAND} operation "${op}"`);
      }
    }),
  );
}
