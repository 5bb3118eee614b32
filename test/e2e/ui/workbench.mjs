// Helpers for UI scenarios: open the workbench, run a command from the palette, reach a webview's
// content, copy fixtures into the workspace. Every wait is on a condition, never a fixed sleep.
import { cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

/** Loads the workbench with the extension and waits until it can take commands. */
export async function openWorkbench(page, ctx) {
  await page.goto(ctx.url);
  await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 90_000 });
  await page.locator('.statusbar').waitFor({ state: 'visible', timeout: 90_000 });
}

/**
 * F1, type the command's palette title, wait for it in the list, Enter. The palette lists the commands
 * known when it opened, and a freshly loaded window registers extension contributions a little later:
 * when the command is not listed, close the palette and open it again.
 */
export async function runCommand(page, title, timeoutMs = 90_000) {
  const input = page.locator('.quick-input-widget input');
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await page.keyboard.press('F1');
    try {
      await input.waitFor({ state: 'visible', timeout: 5_000 });
      await input.fill(`>${title}`);
      await row.waitFor({ state: 'visible', timeout: 5_000 });
      break;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`"${title}" never appeared in the command palette: ${err.message}`);
      await page.keyboard.press('Escape');
    }
  }
  await input.press('Enter');
}

/** Picks an entry of an open quick pick by typing part of its label. */
export async function pickQuickItem(page, text) {
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: 30_000 });
  await page.locator('.quick-input-list .monaco-list-row', { hasText: text }).first().waitFor({ state: 'visible', timeout: 30_000 });
  try {
    await input.fill(text, { timeout: 10_000 });
  } catch (err) {
    // Seen once in CI: the pick showed the row, then its input went inert (the pick closed) before the fill.
    // Say where the focus went, for the next time.
    const seen = await page
      .evaluate(() => {
        const active = document.activeElement;
        const widget = document.querySelector('.quick-input-widget');
        return `focus on ${active ? `${active.tagName.toLowerCase()}.${String(active.className).split(' ').join('.')}` : 'nothing'}, quick input ${widget && getComputedStyle(widget).display !== 'none' ? 'shown' : 'hidden'}, dialogs ${document.querySelectorAll('.monaco-dialog-box').length}`;
      })
      .catch(() => 'page state unknown');
    throw new Error(`the quick pick closed before "${text}" could be typed into it (${seen}): ${err.message.split('\n')[0]}`);
  }
  await page.locator('.quick-input-list .monaco-list-row.focused', { hasText: text }).first().waitFor({ state: 'visible', timeout: 10_000 });
  await input.press('Enter');
}

/** The content document of the (only) webview: the workbench nests it in two iframes. */
export function webviewContent(page) {
  return page.frameLocator('iframe.webview').frameLocator('iframe#active-frame');
}

/** The Frame of the webview's content, for evaluating in it. */
export async function webviewFrame(page) {
  const handle = await page.frameLocator('iframe.webview').locator('iframe#active-frame').elementHandle({ timeout: 30_000 });
  const frame = await handle.contentFrame();
  if (!frame) throw new Error('the webview has no content frame');
  return frame;
}

/** Copies recorded sessions (and the probes they point at) into the workspace under sessions/. */
export function copySessions(ctx, ...names) {
  const dest = join(ctx.workspace, 'sessions');
  mkdirSync(dest, { recursive: true });
  for (const n of names) cpSync(join(ctx.root, 'test', 'fixtures', 'sessions', n), join(dest, n), { recursive: true });
  return dest;
}

/** Polls `check` (async, returns truthy when done) until it holds; reports what was awaited otherwise. */
export async function until(check, what, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${last.message})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
