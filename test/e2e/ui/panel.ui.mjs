// A user's path through the tracing panel: Show Tracing Panel from the palette (empty state), open a
// recorded session, see rows, filter by a hook from the histogram, click an event and land on the
// probe's SEC() line, move with the keyboard. Saves test-results/panel-recorded.png.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { copySessions, openWorkbench, pickQuickItem, runCommand, until, webviewContent } from './workbench.mjs';

export const title = 'tracing panel: palette, recorded session, hook filter, click to source, keyboard';

export default async function (page, ctx) {
  copySessions(ctx, 'demo.jsonl', 'probes');
  const demo = readFileSync(join(ctx.root, 'test', 'fixtures', 'sessions', 'demo.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  await openWorkbench(page, ctx);

  await runCommand(page, 'BPF-LSM: Show Tracing Panel');
  const panel = webviewContent(page);
  await panel.locator('#empty').getByText('No trace session yet').waitFor({ state: 'visible', timeout: 60_000 });
  await panel.getByRole('button', { name: 'Open Saved Session…' }).waitFor({ state: 'visible' });

  await runCommand(page, 'BPF-LSM: Open Saved Trace Session');
  await pickQuickItem(page, 'demo.jsonl');
  const rows = panel.locator('#rows .row[data-seq]');
  await until(async () => (await rows.count()) > 10, 'rows of the recorded session');
  await until(async () => (await panel.locator('#counts').textContent()).includes(`of ${demo.length.toLocaleString('en-US')} events`), 'the event count');
  const inDom = await panel.locator('#rows .row').count();
  if (inDom > 120) throw new Error(`${inDom} rows in the DOM for ${demo.length} events: the list is not virtualized`);

  // Following the tail while the list grows taller: the rows drawn fill the taller list and end with the
  // last event (they used to stay as many as fitted before, above blank space).
  const follow = panel.locator('#follow');
  if ((await follow.getAttribute('aria-pressed')) !== 'true') await follow.click();
  const size = page.viewportSize();
  await page.setViewportSize({ width: size.width, height: size.height - 300 });
  await until(async () => (await panel.locator('#scroller').evaluate((el) => el.clientHeight)) < 400, 'a shorter list');
  await page.setViewportSize(size);
  await until(async () => {
    const height = await panel.locator('#scroller').evaluate((el) => el.clientHeight);
    const drawn = await panel.locator('#rows .row').evaluateAll((els) => els.map((el) => Number(el.getAttribute('aria-rowindex'))));
    const count = Number(await panel.locator('#list').getAttribute('aria-rowcount'));
    return height >= 400 && drawn.length >= Math.floor(height / 22) - 1 && Math.max(...drawn) === count;
  }, 'the taller list filled with rows down to the last event');

  // From the top (Home), walk down the list with the keyboard until an event with a source is selected, so
  // the details pane is filled, then take the picture. (Counting presses from the data-seq of the first
  // drawn row with a source walked ~2,400 rows, as the list follows its tail here: 250 s of a 300 s limit.)
  const list = panel.locator('#list');
  await list.focus();
  await list.press('Home');
  const sourceShown = async () => (await panel.locator('#details').textContent()).includes(`exec_guard.bpf.c:`);
  for (let k = 0; k < 100 && !(await sourceShown()); k++) await list.press('ArrowDown');
  await until(sourceShown, 'details of an event with a source');
  await page.screenshot({ path: join(ctx.resultsDir, 'panel-recorded.png') });

  // Filter by hook from the histogram.
  const hook = 'bprm_check_security';
  const expected = demo.filter((e) => e.kind === 'hook' && e.hook === hook).length;
  await panel.locator(`.hbar[aria-label^="${hook}:"]`).click();
  await until(async () => (await panel.locator('#counts').textContent()).startsWith(`${expected} of `), `${expected} ${hook} events`);
  await until(async () => {
    const hooks = await panel.locator('#rows .row[data-seq] .c3').allTextContents();
    return hooks.length === Math.min(expected, hooks.length) && hooks.length > 0 && hooks.every((h) => h === hook);
  }, `only ${hook} rows`);
  await panel.locator('#hook-chips .chip', { hasText: hook }).waitFor({ state: 'visible' });

  // Click an event: the editor opens the probe at the SEC("lsm/...") line of the program that emitted it.
  const first = panel.locator('#rows .row[data-seq]').first();
  const seq = Number(await first.getAttribute('data-seq'));
  const line = demo[seq].source?.line;
  if (!line) throw new Error(`event ${seq} of the demo session has no source line`);
  await first.locator('.c4').click();
  await page.locator('.tabs-container .tab.active', { hasText: 'exec_guard.bpf.c' }).waitFor({ state: 'visible', timeout: 30_000 });
  // Focus stays in the panel (a click keeps it there), so read the cursor line from the editor's gutter.
  await until(async () => (await page.locator('.monaco-editor .line-numbers.active-line-number').first().textContent())?.trim() === String(line), `the cursor on line ${line}`);
  await page.locator('.view-line', { hasText: `SEC("lsm/${hook}")` }).first().waitFor({ state: 'visible' });
  await page.screenshot({ path: join(ctx.resultsDir, 'panel-source.png') });

  // The details pane shows the clicked event with its syscall context.
  await until(async () => (await panel.locator('#details').textContent()).includes('Syscall context'), 'details of the clicked event');

  // Keyboard: the list has focus after the click; ArrowDown moves the selection to the next row.
  const before = await list.getAttribute('aria-activedescendant');
  await list.focus();
  await list.press('ArrowDown');
  await until(async () => {
    const now = await list.getAttribute('aria-activedescendant');
    return now && now !== before;
  }, 'the selection to move down');
  const selectedSeq = await panel.locator('#rows .row.selected').getAttribute('data-seq');
  if (Number(selectedSeq) === seq) throw new Error('ArrowDown did not move the selection');
}
