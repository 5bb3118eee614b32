// The command catalogue: one list read by the manifest check (test/unit/manifest.test.ts), the client
// (which registers each id) and the e2e suite (which runs each one). Adding a command starts here.

export interface CommandInfo {
  /** The command id, always under `bpfLsm.`. */
  readonly id: string;
  /** Title shown after the "BPF-LSM:" category in the command palette. */
  readonly title: string;
  /**
   * The command builds or loads workspace code, starts the root helper or reaches a target: it is refused in
   * an untrusted workspace by its handler (Studio.command), not only greyed out by the manifest's
   * `enablement`, which buttons and other extensions calling executeCommand do not pass through.
   */
  readonly trusted?: true;
}

export const COMMANDS = {
  traceExecutable: { id: 'bpfLsm.traceExecutable', title: 'Trace Executable', trusted: true },
  buildProbe: { id: 'bpfLsm.buildProbe', title: 'Build Probe', trusted: true },
  loadProbe: { id: 'bpfLsm.loadProbe', title: 'Load Probe', trusted: true },
  selectTarget: { id: 'bpfLsm.selectTarget', title: 'Select Target' },
  checkTarget: { id: 'bpfLsm.checkTarget', title: 'Check Target', trusted: true },
  showTracingPanel: { id: 'bpfLsm.showTracingPanel', title: 'Show Tracing Panel' },
  openTraceSession: { id: 'bpfLsm.openTraceSession', title: 'Open Saved Trace Session' },
  exportTraceSession: { id: 'bpfLsm.exportTraceSession', title: 'Export Trace Session' },
  startVm: { id: 'bpfLsm.startVm', title: 'Start VM', trusted: true },
  stopVm: { id: 'bpfLsm.stopVm', title: 'Stop VM', trusted: true },
  loadTracer: { id: 'bpfLsm.loadTracer', title: 'Load Tracer on Target', trusted: true },
  releaseTracer: { id: 'bpfLsm.releaseTracer', title: 'Release Resident Tracer', trusted: true },
  applyPolicy: { id: 'bpfLsm.applyPolicy', title: 'Apply Enforcement Policy', trusted: true },
  clearPolicy: { id: 'bpfLsm.clearPolicy', title: 'Clear Enforcement Policy', trusted: true },
  proposePolicy: { id: 'bpfLsm.proposePolicy', title: 'Propose Policy from Trace Session' },
  replayPolicy: { id: 'bpfLsm.replayPolicy', title: 'Replay Policy on Trace Session…' },
  refreshPrograms: { id: 'bpfLsm.refreshPrograms', title: 'Refresh Loaded Programs', trusted: true },
  detachProgram: { id: 'bpfLsm.detachProgram', title: 'Detach Program', trusted: true },
  attachProgram: { id: 'bpfLsm.attachProgram', title: 'Attach Program', trusted: true },
  unloadProbe: { id: 'bpfLsm.unloadProbe', title: 'Unload Probe', trusted: true },
  pinProgram: { id: 'bpfLsm.pinProgram', title: 'Pin Program (Keep Attached)', trusted: true },
  unpinProgram: { id: 'bpfLsm.unpinProgram', title: 'Unpin Program', trusted: true },
  showVerifierLog: { id: 'bpfLsm.showVerifierLog', title: 'Show Verifier Log', trusted: true },
  openProbeSource: { id: 'bpfLsm.openProbeSource', title: 'Open Probe Source', trusted: true },
  addMapEntry: { id: 'bpfLsm.addMapEntry', title: 'Add Map Entry', trusted: true },
  editMapEntry: { id: 'bpfLsm.editMapEntry', title: 'Edit Map Entry', trusted: true },
  deleteMapEntry: { id: 'bpfLsm.deleteMapEntry', title: 'Delete Map Entry', trusted: true },
  restartLanguageServer: { id: 'bpfLsm.restartLanguageServer', title: 'Restart Language Server' },
  showOutput: { id: 'bpfLsm.showOutput', title: 'Show Output' },
} as const satisfies Record<string, CommandInfo>;

export type CommandKey = keyof typeof COMMANDS;

export const COMMAND_CATEGORY = 'BPF-LSM';
