// Feature: exec enforcement policy from the workspace's bpf-lsm.policy.json.
// Commands: bpfLsm.applyPolicy (optional argument: the policy file's Uri), bpfLsm.clearPolicy.
// After Apply, saving the policy file re-applies it (the pinned rule map changes in place, the program is
// not reloaded), and matched execs stream into the tracing panel: in audit mode these are the would-be
// denials. The policy itself is pinned on the target and stays in force after this window closes.
import * as vscode from 'vscode';
import { Studio } from './studio';
import { TargetService } from './targets';
import { TracingPanel } from './panel/host';
import { HelperClient } from '../core/helperClient';
import { findDist } from '../core/targets/deploy';
import { offerToStartVm } from './vm';
import { TargetConnection } from './targetConnection';
import { applyPolicy, clearPolicy, EVENTS_MAP, execBlockObject, parsePolicy, PolicyError } from '../core/policy/policy';
import { execEventDecoder } from '../core/policy/events';
import { policyHookEvent } from '../core/policy/traceEvents';
import { iterateRecords } from '../shared/helperFrames';
import { parsePolicyDocument, type Profile } from '../core/policy/profile';
import { applyProfiles, clearProfiles, linkedSubjectWarning, profileGuardObject, PROFILE_EVENTS_MAP } from '../core/policy/profileApply';
import { profileEventDecoder, profileHookEvent } from '../core/policy/profileEvents';

export const POLICY_FILE = 'bpf-lsm.policy.json';

class PolicyFeature implements vscode.Disposable {
  private watcher: vscode.Disposable | undefined;
  /** Policies are pinned, so closing this connection leaves them in force; it only serves apply. */
  private readonly connection: TargetConnection<HelperClient>;
  private applying: Promise<unknown> = Promise.resolve();
  private readonly problems = vscode.languages.createDiagnosticCollection('bpf-lsm-policy');

  constructor(private readonly studio: Studio, private readonly targets: TargetService) {
    this.connection = new TargetConnection(studio, targets, {
      open: async (target) => HelperClient.connect(await target.startHelper(), { client: 'vscode policy' }),
      closed: (c) => c.closed,
      close: (c) => c.close(),
    });
  }

  async policyUri(arg: unknown): Promise<vscode.Uri | undefined> {
    if (arg instanceof vscode.Uri) return arg;
    const active = vscode.window.activeTextEditor?.document.uri;
    if (active?.path.endsWith(`/${POLICY_FILE}`)) return active;
    const found = await vscode.workspace.findFiles(`**/${POLICY_FILE}`, '**/node_modules/**', 2);
    return found[0];
  }

  async apply(uri: vscode.Uri, quiet = false): Promise<void> {
    const text = (await vscode.workspace.openTextDocument(uri)).getText();
    let policy;
    let profiles: readonly Profile[];
    try {
      policy = parsePolicy(text, vscode.workspace.asRelativePath(uri));
      profiles = parsePolicyDocument(text, vscode.workspace.asRelativePath(uri)).profiles;
      this.problems.delete(uri);
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err;
      const d = new vscode.Diagnostic(new vscode.Range(0, 0, 0, Number.MAX_SAFE_INTEGER), err.message, vscode.DiagnosticSeverity.Error);
      d.source = 'bpf-lsm policy';
      this.problems.set(uri, [d]);
      throw err;
    }
    const target = this.targets.target;
    const object = execBlockObject(findDist());
    const client = await this.connection.get();
    const r = await applyPolicy(target, client, policy, object, (m) => this.studio.log(`policy: ${m}`));
    for (const m of r.missing) this.studio.output.warn(`policy: ${m} does not exist on ${this.targets.id}: denied by path only`);
    if (r.loaded) {
      const msg = `policy ${r.replaced ? 'updated' : 'applied'} on ${this.targets.id}: ${r.mode}, ${policy.deny.length} path(s), ${r.rules} rules; stays in force until "Clear Enforcement Policy"`;
      this.studio.log(msg);
      if (!quiet) void vscode.window.setStatusBarMessage(`$(shield) BPF-LSM: ${msg}`, 8000);
      await this.followEvents(client, object, policy.mode);
    } else if (!profiles.length) this.studio.log(`policy: nothing to enforce on ${this.targets.id}: the file denies no executable and has no profiles`);
    if (profiles.length) {
      const p = await applyProfiles(target, client, profiles, profileGuardObject(findDist()), (m) => this.studio.log(`policy: ${m}`));
      for (const m of p.missingSubjects) this.studio.output.warn(`policy: subject ${m} does not exist on ${this.targets.id}: its profile confines nothing`);
      for (const l of p.linkedSubjects) this.studio.output.warn(`policy: ${linkedSubjectWarning(l)}`);
      this.studio.log(`policy: profiles ${p.replaced ? 'updated' : 'applied'}: ${profiles.map((x) => `${x.name} (${x.mode})`).join(', ')}, ${p.rules} rules`);
      this.profileNames = profiles.map((x) => x.name);
      await this.followProfileEvents(client);
    } else await clearProfiles(target, client);
    this.watch(uri);
  }

  private following = false;
  private followingProfiles = false;
  /** Names of the applied profiles, by index, for the rows of their events. */
  private profileNames: string[] = [];

  /** Profile denials (enforce) and would-be denials (audit) into the tracing panel, from the pinned ring. */
  private async followProfileEvents(client: HelperClient): Promise<void> {
    if (this.followingProfiles) return;
    this.followingProfiles = true;
    const object = profileGuardObject(findDist());
    const decode = profileEventDecoder(object);
    const loaded = await client.loadObject(object, { name: 'profile_guard', programs: [] });
    const panel = TracingPanel.show(this.studio, { preserveFocus: true });
    await client.startTrace({ objectId: loaded.objectId, ringBuffers: [PROFILE_EVENTS_MAP] }, (batch) => {
      panel.append([...iterateRecords(batch.records)].map((r) => profileHookEvent(decode(r.data), this.profileNames)));
    });
    void client.closed.then(() => {
      this.followingProfiles = false;
    });
  }

  /** Matched execs into the tracing panel, through the pinned event ring (no program is loaded for it). */
  private async followEvents(client: HelperClient, object: Buffer, mode: string): Promise<void> {
    if (this.following) return;
    this.following = true;
    const decode = execEventDecoder(object);
    const loaded = await client.loadObject(object, { name: 'exec_block', programs: [] });
    const panel = TracingPanel.show(this.studio, { preserveFocus: true });
    panel.startSession({ title: `Exec policy (${mode})`, detail: `matched execs on ${this.targets.id}: denials in enforce mode, would-be denials in audit mode` });
    await client.startTrace({ objectId: loaded.objectId, ringBuffers: [EVENTS_MAP] }, (batch) => {
      panel.append([...iterateRecords(batch.records)].map((r) => policyHookEvent(decode(r.data))));
    });
    void client.closed.then(() => {
      this.following = false;
      panel.endSession({ detail: 'connection to the target closed; the policy itself stays in force' });
    });
  }

  private watch(uri: vscode.Uri): void {
    this.watcher?.dispose();
    this.watcher = vscode.workspace.onDidSaveTextDocument((doc) => {
      if (doc.uri.toString() !== uri.toString()) return;
      this.applying = this.applying.then(() =>
        this.apply(uri, true).catch((err) => {
          this.studio.output.error(`policy: re-applying ${uri.fsPath} failed: ${(err as Error).message}`);
          void vscode.window.showErrorMessage(`BPF-LSM: the policy was not updated: ${(err as Error).message}`);
        }),
      );
    });
  }

  async clear(): Promise<void> {
    this.watcher?.dispose();
    this.watcher = undefined;
    const id = this.targets.id;
    const target = this.targets.target;
    if (target.stopped()) {
      void vscode.window.showInformationMessage(`BPF-LSM: ${target.description} is not running, so no policy is in force there.`);
      return;
    }
    const client = await this.connection.get();
    const hadExec = await clearPolicy(target, client);
    const had = (await clearProfiles(target, client)) || hadExec;
    await this.connection.reset();
    const msg = had ? `policy cleared on ${id}` : `no policy was in force on ${id}`;
    this.studio.log(msg);
    void vscode.window.setStatusBarMessage(`$(shield) BPF-LSM: ${msg}`, 5000);
  }

  dispose(): void {
    this.watcher?.dispose();
    this.problems.dispose();
    this.connection.dispose();
  }
}

export function registerPolicy(studio: Studio, targets: TargetService): void {
  const feature = new PolicyFeature(studio, targets);
  studio.own(feature);
  studio.command('applyPolicy', async (arg) => {
    const uri = await feature.policyUri(arg);
    if (!uri) {
      void vscode.window.showInformationMessage(`BPF-LSM: no ${POLICY_FILE} in this workspace. Create one: { "mode": "audit", "deny": ["/usr/bin/nc"] }`);
      return undefined;
    }
    if (offerToStartVm(targets, 'the policy is applied on its kernel', 'Start VM and Apply', 'bpfLsm.applyPolicy', uri)) return undefined;
    await feature.apply(uri);
    return true;
  });
  studio.command('clearPolicy', () => feature.clear());
}
