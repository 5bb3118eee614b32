// Names from the kernel are data: a session whose comm and file names are HTML and script shows them as
// text, no element is created from them, no dialog opens and no script sets the flag they try to set.
import { join } from 'node:path';
import { copySessions, openWorkbench, pickQuickItem, runCommand, until, webviewContent, webviewFrame } from './workbench.mjs';

export const title = 'tracing panel: hostile comm and file names render as text, no script runs';

export default async function (page, ctx) {
  const dialogs = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  copySessions(ctx, 'hostile.jsonl');
  await openWorkbench(page, ctx);
  await runCommand(page, 'BPF-LSM: Open Saved Trace Session');
  await pickQuickItem(page, 'hostile.jsonl');
  const panel = webviewContent(page);
  const comm = '<img src=x onerror=alert(1)>';
  await panel.locator('#rows .comm', { hasText: comm }).first().waitFor({ state: 'visible', timeout: 60_000 });

  // The file name with a <script> tag, in a row summary and in the details pane.
  await panel.locator('#filter-text').fill('<b>bold</b>');
  const row = panel.locator('#rows .row[data-seq]').first();
  await until(async () => (await row.locator('.c4').textContent())?.includes('<b>bold</b>&amp;'), 'the <b> file name as text');
  await row.locator('.c1').click();
  await until(async () => (await panel.locator('#details').textContent()).includes('<script>alert(3)</script>'), 'the <script> comm in the details');
  await panel.locator('#filter-text').fill('');
  await panel.locator('#rows .row[data-seq] .c4', { hasText: '<script>window.__bpfLsmPwned=1</script>' }).first().waitFor({ state: 'visible' });

  const frame = await webviewFrame(page);
  const verdict = await frame.evaluate(() => ({
    flag: window.__bpfLsmPwned,
    images: document.images.length,
    scripts: document.querySelectorAll('#root script, #root svg, #root b').length,
  }));
  await page.screenshot({ path: join(ctx.resultsDir, 'panel-hostile.png') });
  if (verdict.flag !== undefined) throw new Error('a script from a kernel string ran in the webview');
  if (verdict.images !== 0 || verdict.scripts !== 0) throw new Error(`kernel strings became elements: ${JSON.stringify(verdict)}`);
  if (dialogs.length) throw new Error(`dialogs opened: ${dialogs.join(', ')}`);
}
