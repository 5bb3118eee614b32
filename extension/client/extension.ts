// Extension entry point: owns the extension-lifetime objects and wires every feature from this one place.
// Each feature lives in its own file and registers its own commands and context keys.
import * as vscode from 'vscode';
import { Studio } from './studio';
import { registerPendingCommands } from './pending';
import { registerOutputCommands } from './output';
import { registerLanguageClient } from './languageClient';
import { registerTracingPanel } from './tracingPanel';
import { registerTargets } from './targets';
import { registerVm } from './vm';
import { registerTraceExecutable } from './traceExecutable';
import { registerBuild } from './build';
import { registerPolicy } from './policy';
import { registerPolicyFromTrace } from './policyFromTrace';
import { registerProgramsView } from './programsView';
import { registerTestExplorer } from './testExplorer';

let studio: Studio | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<Studio> {
  studio = new Studio(context);
  context.subscriptions.push(studio);
  registerOutputCommands(studio);
  registerTracingPanel(studio);
  await registerLanguageClient(studio);
  const targets = registerTargets(studio);
  registerVm(studio, targets);
  registerTraceExecutable(studio, targets);
  registerProgramsView(studio, targets, registerBuild(studio, targets));
  registerPolicy(studio, targets);
  registerPolicyFromTrace(studio);
  registerTestExplorer(studio);
  // Last: commands whose feature has not landed yet get an honest "not available yet" handler.
  registerPendingCommands(studio);
  studio.log('BPF-LSM Studio activated');
  return studio;
}

export async function deactivate(): Promise<void> {
  await studio?.disposeAsync();
  studio = undefined;
}
