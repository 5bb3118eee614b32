// Finding scenario files (*.lsmtest.json) under the paths `bpf-lsm test` is given.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseScenarioFile, SCENARIO_FILE_SUFFIX, type ScenarioFile } from './scenarioFile';

const SKIP = new Set(['node_modules', '.git', 'dist', 'out']);

export function findScenarioFiles(paths: readonly string[]): string[] {
  const found: string[] = [];
  const walk = (p: string, top: boolean) => {
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) {
      if (top) throw new Error(`${p} does not exist`);
      return;
    }
    if (st.isDirectory()) {
      for (const e of readdirSync(p).sort()) if (!SKIP.has(e)) walk(join(p, e), false);
    } else if (p.endsWith(SCENARIO_FILE_SUFFIX) || (top && p.endsWith('.json'))) found.push(resolve(p));
  };
  for (const p of paths) walk(p, true);
  return [...new Set(found)];
}

export function readScenarioFile(path: string): ScenarioFile {
  return parseScenarioFile(readFileSync(path, 'utf8'), path);
}
