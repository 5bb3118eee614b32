// Trace Executable the way a user runs it: the command palette, the program quick pick, the arguments box;
// then the live rows in the tracing panel, a hook filter from the histogram, and a click on an event that
// opens the hook's reference (the built-in tracer's events have no probe source of the user's to open).
// Runs against the built-in VM (the default target on a host that cannot run BPF-LSM programs).
// Saves test-results/panel.png with the live events.
import { join } from 'node:path';
import { openWorkbench, runCommand, until, webviewContent } from './workbench.mjs';

export const title = 'Trace Executable from the palette against the VM: live rows, hook filter, click to the hook reference';

export default async function (page, ctx) {
  await openWorkbench(page, ctx);
  await runCommand(page, 'BPF-LSM: Trace Executable');

  // Step 1: the program, typed into the quick pick (which lists it already, among recent and common ones).
  const input = page.locator('.quick-input-widget input');
  await page.locator('.quick-input-widget').getByText('Trace Executable (1/2)').waitFor({ state: 'visible', timeout: 30_000 });
  await input.fill('/bin/sh');
  await page.locator('.quick-input-list .monaco-list-row.focused', { hasText: '/bin/sh' }).waitFor({ state: 'visible', timeout: 10_000 });
  await input.press('Enter');
  // Step 2: the arguments, quoted like in a shell; `; true` makes the shell fork cat instead of exec'ing it.
  await page.locator('.quick-input-widget').getByText('Trace Executable (2/2)').waitFor({ state: 'visible', timeout: 30_000 });
  await input.fill("-c 'cat /etc/hostname; true'");
  await input.press('Enter');

  // The first trace on a connection loads and attaches the tracer in the TCG guest: allow for it.
  const panel = webviewContent(page);
  const rows = panel.locator('#rows .row[data-seq]');
  await until(async () => (await rows.count().catch(() => 0)) > 10, 'live rows in the tracing panel', 150_000);
  await until(async () => /exit 0/.test((await panel.locator('body').textContent().catch(() => '')) ?? ''), 'the session to end with exit 0', 60_000);
  await page.screenshot({ path: join(ctx.resultsDir, 'panel.png') });

  // Filter by file_open from the histogram: every row left is a file_open, and cat's /etc/hostname is one.
  const hook = 'file_open';
  await panel.locator(`.hbar[aria-label^="${hook}:"]`).click();
  await until(async () => {
    const hooks = await panel.locator('#rows .row[data-seq] .c3').allTextContents();
    return hooks.length > 0 && hooks.every((h) => h === hook);
  }, `only ${hook} rows`);
  await until(async () => (await panel.locator('#rows').textContent()).includes('/etc/hostname'), 'the open of /etc/hostname');

  // Click the event: the hook reference opens with the hook's signature from the target kernel.
  await panel.locator('#rows .row[data-seq]', { hasText: '/etc/hostname' }).first().locator('.c4').click();
  await page.locator('.tabs-container .tab.active', { hasText: `${hook}.h` }).waitFor({ state: 'visible', timeout: 30_000 });
  await page.locator('.view-line', { hasText: 'BPF_PROG(file_open' }).first().waitFor({ state: 'visible', timeout: 30_000 });
  await page.screenshot({ path: join(ctx.resultsDir, 'panel-hook-reference.png') });
}
