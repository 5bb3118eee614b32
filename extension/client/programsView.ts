// Feature: the Loaded Programs view (activity bar "BPF-LSM"): what the helper of this window loaded on
// the target: each probe object with its programs (hook, attached, pinned) and maps, map entries decoded
// with their BTF key/value types (refreshed live while the view is visible).
// Commands (view items; without an item they say what to select): bpfLsm.refreshPrograms,
// bpfLsm.detachProgram, bpfLsm.attachProgram, bpfLsm.unloadProbe, bpfLsm.pinProgram, bpfLsm.unpinProgram,
// bpfLsm.showVerifierLog, bpfLsm.openProbeSource, bpfLsm.addMapEntry, bpfLsm.editMapEntry,
// bpfLsm.deleteMapEntry.
import * as vscode from 'vscode';
import { Studio } from './studio';
import { TargetService } from './targets';
import { ProbeSessions } from './loadSession';
import type { JsonValue, LoadedObjectInfo, MapInfo, ProgramInfo } from '../shared/helperProtocol';

const PIN_DIR = '/sys/fs/bpf/bpf-lsm-studio/probes';
const LIVE_REFRESH_MS = 2000;

/** What bpftool on the target says about a program: its id, and run stats when kernel.bpf_stats_enabled=1. */
interface KernelProgramStats {
  id: number;
  run_cnt?: number;
  run_time_ns?: number;
  /** Ids of the links attaching this program (bpftool link show). */
  links?: number[];
}

type Node =
  | { kind: 'object'; object: LoadedObjectInfo }
  | { kind: 'program'; objectId: number; program: ProgramInfo; stats?: KernelProgramStats }
  | { kind: 'map'; objectId: number; map: MapInfo }
  | { kind: 'entry'; objectId: number; map: string; key: JsonValue; value: JsonValue }
  | { kind: 'message'; text: string };

export function pinPath(objectName: string, program: string): string {
  return `${PIN_DIR}/${objectName.replace(/[^A-Za-z0-9_.-]/g, '_')}_${program}`;
}

class ProgramsTree implements vscode.TreeDataProvider<Node> {
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;

  constructor(private readonly sessions: ProbeSessions, private readonly targets: TargetService) {}

  refresh(node?: Node): void {
    this.changed.fire(node);
  }

  getTreeItem(n: Node): vscode.TreeItem {
    switch (n.kind) {
      case 'object': {
        const item = new vscode.TreeItem(n.object.name, vscode.TreeItemCollapsibleState.Expanded);
        item.description = `object ${n.object.objectId}: ${n.object.programs.length} program(s), ${n.object.maps.filter((m) => !m.internal).length} map(s)`;
        item.contextValue = 'probeObject';
        item.iconPath = new vscode.ThemeIcon('package');
        return item;
      }
      case 'program': {
        const p = n.program;
        const item = new vscode.TreeItem(p.name, vscode.TreeItemCollapsibleState.None);
        const st = n.stats;
        const runs = st?.run_cnt !== undefined ? ` · ${st.run_cnt} runs${st.run_cnt ? `, ${Math.round((st.run_time_ns ?? 0) / st.run_cnt)} ns avg` : ''}` : '';
        const links = st?.links?.length ? ` · link ${st.links.join(', ')}` : '';
        item.description = `${st ? `id ${st.id}${links} · ` : ''}${p.section}${p.attached ? ' · attached' : p.loaded ? ' · loaded, detached' : ' · not loaded'}${p.pinned ? ' · pinned' : ''}${runs}`;
        item.tooltip = `${p.type} program on hook ${p.attachTarget}, ${p.instructions} instructions${st && st.run_cnt === undefined ? '\nRun counts appear when kernel.bpf_stats_enabled=1 on the target (sysctl -w kernel.bpf_stats_enabled=1).' : ''}`;
        item.contextValue = `probeProgram${p.attached ? '.attached' : '.detached'}${p.pinned ? '.pinned' : ''}`;
        item.iconPath = new vscode.ThemeIcon(p.attached ? 'debug-breakpoint' : 'debug-breakpoint-unverified');
        return item;
      }
      case 'map': {
        const m = n.map;
        const item = new vscode.TreeItem(m.name, /hash|array/.test(m.type) ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None);
        item.description = `${m.type}, key ${m.keySize} B, value ${m.valueSize} B, max ${m.maxEntries}`;
        item.contextValue = /hash|array/.test(m.type) && !/percpu/.test(m.type) ? 'probeMap.editable' : 'probeMap';
        item.iconPath = new vscode.ThemeIcon('symbol-array');
        return item;
      }
      case 'entry': {
        const item = new vscode.TreeItem(JSON.stringify(n.key), vscode.TreeItemCollapsibleState.None);
        item.description = JSON.stringify(n.value);
        item.tooltip = `key ${JSON.stringify(n.key, null, 2)}\nvalue ${JSON.stringify(n.value, null, 2)}`;
        item.contextValue = 'mapEntry';
        return item;
      }
      case 'message':
        return new vscode.TreeItem(n.text, vscode.TreeItemCollapsibleState.None);
    }
  }

  private async kernelStats(): Promise<Array<KernelProgramStats & { name?: string; type?: string }>> {
    try {
      const target = this.targets.target;
      const [progs, links] = await Promise.all([
        target.exec('bpftool', ['--json', 'prog', 'show'], { root: true, timeoutMs: 15_000 }),
        target.exec('bpftool', ['--json', 'link', 'show'], { root: true, timeoutMs: 15_000 }),
      ]);
      if (progs.exitCode !== 0) return [];
      const byProg = new Map<number, number[]>();
      for (const l of (links.exitCode === 0 ? JSON.parse(links.stdout || '[]') : []) as Array<{ id: number; prog_id?: number }>) {
        if (l.prog_id !== undefined) byProg.set(l.prog_id, [...(byProg.get(l.prog_id) ?? []), l.id]);
      }
      return (JSON.parse(progs.stdout || '[]') as Array<KernelProgramStats & { name?: string; type?: string }>).map((p) => ({ ...p, links: byProg.get(p.id) ?? [] }));
    } catch {
      // Without bpftool on the target the view still lists programs, just without ids and run counts.
      return [];
    }
  }

  async getChildren(n?: Node): Promise<Node[]> {
    if (!n) {
      const client = await this.sessions.connected();
      if (!client) return [{ kind: 'message', text: `Nothing loaded on ${this.targets.id}: run "BPF-LSM: Load Probe"` }];
      const list = await client.call('list', {});
      if (list.objects.length === 0) return [{ kind: 'message', text: `Nothing loaded on ${this.targets.id}` }];
      return list.objects.map((object) => ({ kind: 'object', object }));
    }
    if (n.kind === 'object') {
      const stats = await this.kernelStats();
      return [
        ...n.object.programs.map((program): Node => {
          // The kernel keeps 15 characters of a program name; a name loaded twice stays ambiguous.
          const same = stats.filter((x) => x.name === program.name.slice(0, 15) && x.type === 'lsm');
          return { kind: 'program', objectId: n.object.objectId, program, ...(program.loaded && same.length === 1 ? { stats: same[0] } : {}) };
        }),
        ...n.object.maps.filter((m) => !m.internal).map((map): Node => ({ kind: 'map', objectId: n.object.objectId, map })),
      ];
    }
    if (n.kind === 'map') {
      const client = await this.sessions.connected();
      if (!client) return [];
      const page = await client.call('mapEntries', { objectId: n.objectId, map: n.map.name, limit: 200 });
      const entries: Node[] = page.entries.map((e) => ({ kind: 'entry', objectId: n.objectId, map: n.map.name, key: e.key, value: e.value }));
      if (page.more) entries.push({ kind: 'message', text: '(first 200 entries)' });
      if (entries.length === 0) entries.push({ kind: 'message', text: '(empty)' });
      return entries;
    }
    return [];
  }
}

async function askJson(title: string, value: string): Promise<JsonValue | undefined> {
  const text = await vscode.window.showInputBox({
    title,
    value,
    prompt: 'JSON shaped by the BTF type (structs as objects, arrays as lists, 64-bit numbers as numbers or strings), or {"hex": "..."}',
    validateInput: (v) => {
      try {
        JSON.parse(v);
        return undefined;
      } catch (err) {
        return `not JSON: ${(err as Error).message}`;
      }
    },
  });
  return text === undefined ? undefined : (JSON.parse(text) as JsonValue);
}

export function registerProgramsView(studio: Studio, targets: TargetService, sessions: ProbeSessions): void {
  const tree = new ProgramsTree(sessions, targets);
  const view = vscode.window.createTreeView('bpfLsm.programs', { treeDataProvider: tree, showCollapseAll: true });
  studio.own(view, sessions.onDidChange(() => tree.refresh()));
  // Live refresh of map entries while someone is looking.
  const timer = setInterval(() => {
    if (view.visible && sessions.probes.size > 0) tree.refresh();
  }, LIVE_REFRESH_MS);
  studio.own({ dispose: () => clearInterval(timer) });

  const need = async <K extends Node['kind']>(n: unknown, kind: K, what: string): Promise<Extract<Node, { kind: K }> | undefined> => {
    const node = n as Node | undefined;
    if (node?.kind === kind) return node as Extract<Node, { kind: K }>;
    void vscode.window.showInformationMessage(`BPF-LSM: select ${what} in the Loaded Programs view first.`);
    return undefined;
  };
  const client = async () => {
    const c = await sessions.connected();
    if (!c) throw new Error(`nothing is loaded on ${targets.id} from this window; run "BPF-LSM: Load Probe" first`);
    return c;
  };
  const objectName = async (objectId: number) => (await (await client()).call('list', {})).objects.find((o) => o.objectId === objectId)?.name ?? `object${objectId}`;

  // Returns what the view shows (objects with their programs and maps), for scripts and tests.
  studio.command('refreshPrograms', async () => {
    tree.refresh();
    const c = await sessions.connected();
    return c ? (await c.call('list', {})).objects : [];
  });
  studio.command('detachProgram', async (n) => {
    const p = await need(n, 'program', 'a program');
    if (!p) return;
    const r = await (await client()).call('detach', { objectId: p.objectId, programs: [p.program.name] });
    for (const x of r.results.filter((y) => !y.ok)) throw new Error(`detaching ${x.program} failed: ${x.message ?? x.code}`);
    tree.refresh();
  });
  studio.command('attachProgram', async (n) => {
    const p = await need(n, 'program', 'a program');
    if (!p) return;
    const r = await (await client()).call('attach', { objectId: p.objectId, programs: [p.program.name] });
    for (const x of r.results.filter((y) => !y.ok)) throw new Error(`attaching ${x.program} failed: ${x.message ?? x.code}`);
    tree.refresh();
  });
  studio.command('unloadProbe', async (n) => {
    const o = await need(n, 'object', 'a probe');
    if (!o) return;
    await (await client()).call('unloadObject', { objectId: o.object.objectId });
    sessions.forget(o.object.objectId);
  });
  studio.command('pinProgram', async (n) => {
    const p = await need(n, 'program', 'an attached program');
    if (!p) return;
    const path = pinPath(await objectName(p.objectId), p.program.name);
    const mk = await targets.target.exec('mkdir', ['-p', PIN_DIR], { root: true });
    if (mk.exitCode !== 0) throw new Error(`cannot create ${PIN_DIR} on ${targets.id}: ${mk.stderr.trim()}`);
    await (await client()).call('pinLink', { objectId: p.objectId, program: p.program.name, path });
    studio.log(`pinned ${p.program.name} at ${path}: it stays attached after this window closes, until unpinned (rm ${path})`);
    tree.refresh();
  });
  studio.command('unpinProgram', async (n) => {
    const p = await need(n, 'program', 'a pinned program');
    if (!p) return;
    const path = pinPath(await objectName(p.objectId), p.program.name);
    const rm = await targets.target.exec('rm', ['-f', path], { root: true });
    if (rm.exitCode !== 0) throw new Error(`removing ${path} on ${targets.id} failed: ${rm.stderr.trim()}`);
    studio.log(`unpinned ${p.program.name} (${path}): it now ends with this window's connection`);
    tree.refresh();
  });
  studio.command('showVerifierLog', async (n) => {
    const p = await need(n, 'program', 'a program');
    if (!p) return;
    const log = sessions.probes.get(p.objectId)?.logs[p.program.name];
    studio.output.info(log ? `verifier log of ${p.program.name}:\n${log}` : `no verifier log was kept for ${p.program.name} (the kernel only returns one for a rejected load unless a log level is asked for)`);
    studio.output.show(true);
  });
  studio.command('openProbeSource', async (n) => {
    const node = n as Node | undefined;
    const objectId = node && 'objectId' in node ? node.objectId : node?.kind === 'object' ? node.object.objectId : undefined;
    const probe = objectId !== undefined ? sessions.probes.get(objectId) : undefined;
    if (!probe) {
      void vscode.window.showInformationMessage('BPF-LSM: select a loaded probe in the Loaded Programs view first.');
      return;
    }
    await vscode.window.showTextDocument(probe.source);
  });
  studio.command('addMapEntry', async (n) => {
    const m = await need(n, 'map', 'a hash or array map');
    if (!m) return;
    const key = await askJson(`${m.map.name}: key`, '0');
    if (key === undefined) return;
    const value = await askJson(`${m.map.name}: value`, '0');
    if (value === undefined) return;
    await (await client()).call('mapUpdate', { objectId: m.objectId, map: m.map.name, key, value });
    tree.refresh();
  });
  studio.command('editMapEntry', async (n) => {
    const e = await need(n, 'entry', 'a map entry');
    if (!e) return;
    const value = await askJson(`${e.map}[${JSON.stringify(e.key)}]`, JSON.stringify(e.value));
    if (value === undefined) return;
    await (await client()).call('mapUpdate', { objectId: e.objectId, map: e.map, key: e.key, value, flags: 'exist' });
    tree.refresh();
  });
  studio.command('deleteMapEntry', async (n) => {
    const e = await need(n, 'entry', 'a map entry');
    if (!e) return;
    await (await client()).call('mapDelete', { objectId: e.objectId, map: e.map, key: e.key });
    tree.refresh();
  });
}
