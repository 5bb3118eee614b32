// The command catalogue: one list read by the manifest check (test/unit/manifest.test.ts), the client
// (which registers each id) and the e2e suite (which runs each one). Adding a command starts here.

export interface CommandInfo {
  /** The command id, always under `bpfLsm.`. */
  readonly id: string;
  /** Title shown after the "BPF-LSM:" category in the command palette. */
  readonly title: string;
}

export const COMMANDS = {
  traceExecutable: { id: 'bpfLsm.traceExecutable', title: 'Trace Executable' },
  buildProbe: { id: 'bpfLsm.buildProbe', title: 'Build Probe' },
  loadProbe: { id: 'bpfLsm.loadProbe', title: 'Load Probe' },
  selectTarget: { id: 'bpfLsm.selectTarget', title: 'Select Target' },
  checkTarget: { id: 'bpfLsm.checkTarget', title: 'Check Target' },
  showTracingPanel: { id: 'bpfLsm.showTracingPanel', title: 'Show Tracing Panel' },
  openTraceSession: { id: 'bpfLsm.openTraceSession', title: 'Open Saved Trace Session' },
  exportTraceSession: { id: 'bpfLsm.exportTraceSession', title: 'Export Trace Session' },
  startVm: { id: 'bpfLsm.startVm', title: 'Start VM' },
  stopVm: { id: 'bpfLsm.stopVm', title: 'Stop VM' },
  releaseTracer: { id: 'bpfLsm.releaseTracer', title: 'Release Resident Tracer' },
  applyPolicy: { id: 'bpfLsm.applyPolicy', title: 'Apply Enforcement Policy' },
  clearPolicy: { id: 'bpfLsm.clearPolicy', title: 'Clear Enforcement Policy' },
  refreshPrograms: { id: 'bpfLsm.refreshPrograms', title: 'Refresh Loaded Programs' },
  detachProgram: { id: 'bpfLsm.detachProgram', title: 'Detach Program' },
  attachProgram: { id: 'bpfLsm.attachProgram', title: 'Attach Program' },
  unloadProbe: { id: 'bpfLsm.unloadProbe', title: 'Unload Probe' },
  pinProgram: { id: 'bpfLsm.pinProgram', title: 'Pin Program (Keep Attached)' },
  unpinProgram: { id: 'bpfLsm.unpinProgram', title: 'Unpin Program' },
  showVerifierLog: { id: 'bpfLsm.showVerifierLog', title: 'Show Verifier Log' },
  openProbeSource: { id: 'bpfLsm.openProbeSource', title: 'Open Probe Source' },
  addMapEntry: { id: 'bpfLsm.addMapEntry', title: 'Add Map Entry' },
  editMapEntry: { id: 'bpfLsm.editMapEntry', title: 'Edit Map Entry' },
  deleteMapEntry: { id: 'bpfLsm.deleteMapEntry', title: 'Delete Map Entry' },
  restartLanguageServer: { id: 'bpfLsm.restartLanguageServer', title: 'Restart Language Server' },
  showOutput: { id: 'bpfLsm.showOutput', title: 'Show Output' },
} as const satisfies Record<string, CommandInfo>;

export type CommandKey = keyof typeof COMMANDS;

export const COMMAND_CATEGORY = 'BPF-LSM';
