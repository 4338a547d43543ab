import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';

/** Debian's chromium (infra/install-browser.sh). Playwright never downloads a browser of its own here. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`${CHROMIUM_PATH} is missing: run infra/install-browser.sh (as root) first`);
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}

/**
 * A fresh browser context whose Temporal UI workflow list shows our search attributes as columns.
 * The UI keeps the column choice per namespace in localStorage under this key (temporalio/ui
 * src/lib/stores/configurable-table-columns.ts); seeding it is what a user does via "Configure columns".
 */
export async function uiContext(
  browser: Browser,
  opts: { namespace: string; extraWorkflowColumns: readonly string[] },
): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport: { width: 1600, height: 1100 }, locale: 'en-US' });
  // Our columns right after the id, so they are on screen (and in screenshots) without scrolling.
  const columns = ['Status', 'Workflow ID', ...opts.extraWorkflowColumns, 'End'].map((label) => ({ label }));
  await context.addInitScript(
    ([key, value]) => {
      // Runs in the page; the project's TS lib has no DOM types, hence the narrow structural type.
      (
        globalThis as unknown as { localStorage: { setItem(k: string, v: string): void } }
      ).localStorage.setItem(key, value);
    },
    ['namespace-workflow-table-columns', JSON.stringify({ [opts.namespace]: columns })] as const,
  );
  return context;
}

/** Where screenshots go: under the OS temp folder, outside the repository. */
export function screenshotDir(): string {
  return mkdtempSync(join(tmpdir(), 'prograde-e2e-'));
}

/**
 * Waits until `locator` is visible and fails with what the user could not see, where, and the page's
 * visible text — a UI that drops our summary must fail with a message that says so.
 */
export async function expectVisible(
  page: Page,
  locator: Locator,
  what: string,
  timeoutMs = 30_000,
): Promise<string> {
  const visible = locator.filter({ visible: true }).first();
  try {
    await visible.waitFor({ state: 'visible', timeout: timeoutMs });
  } catch (cause) {
    throw new Error(
      `the Temporal UI at ${page.url()} did not show ${what} within ${timeoutMs} ms; visible text:\n${await visibleText(page)}`,
      { cause },
    );
  }
  return visible.innerText();
}

/** The page's text plus that of its frames (the UI renders markdown in iframes), for failure messages. */
async function visibleText(page: Page): Promise<string> {
  const parts = await Promise.all(
    page.frames().map(async (frame) => {
      const text = await frame
        .locator(frame === page.mainFrame() ? 'main' : 'body')
        .innerText({ timeout: 2_000 })
        .catch(() => '');
      return text.trim()
        ? `[${frame === page.mainFrame() ? 'page' : `frame ${frame.name() || frame.url().slice(0, 60)}`}]\n${text.trim()}`
        : '';
    }),
  );
  return parts.filter(Boolean).join('\n\n').slice(0, 4_000);
}
