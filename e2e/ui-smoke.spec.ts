/**
 * The operator UI in a browser against the real demo fleet (`scripts/demo.mjs`: a CA, the hub with
 * its operator API, simulated load managers and gateway agents over mutual TLS), served by the hub
 * under its strict CSP. Every view must load without a console error or a CSP violation; a
 * screenshot of each lands in test-results/screenshots/<view>.png.
 *
 * Needs `npm run build` first (the hub in dist/ and the UI in dist/console/renderer/).
 * LMGW_E2E_DEMO names another demo script to run (default scripts/demo.mjs).
 */
import { expect, test as base, type Page } from '@playwright/test';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const SHOTS = join(ROOT, 'test-results', 'screenshots');
const DEMO = process.env.LMGW_E2E_DEMO ?? join(ROOT, 'scripts', 'demo.mjs');

interface Demo {
  /** `http://127.0.0.1:PORT/login?token=…`, the console's login URL as the demo printed it. */
  loginUrl: string;
  origin: string;
  /** The gateways the demo reported connected. */
  gateways: string[];
  output: () => string;
}

/** Starts the demo fleet, resolves once every site reports load (the demo prints its fleet line). */
async function startDemo(): Promise<{ demo: Demo; child: ChildProcess }> {
  const child = spawn(process.execPath, [DEMO], {
    cwd: ROOT,
    env: { ...process.env, LMGW_DEMO_API_PORT: '0', LMGW_DEMO_PORT: '0', LMGW_DEMO_DIR: join(ROOT, '.lmgw', 'e2e-demo') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const demo = await new Promise<Demo>((resolveDemo, reject) => {
    const timer = setTimeout(() => reject(new Error(`the demo fleet did not report within 150 s:\n${out}`)), 150_000);
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      const login = /(http:\/\/[\w.-]+:\d+)\/login\?token=([\w-]+)/.exec(out);
      // The fleet line comes once every site has connected and reported.
      if (login && /^\S+\s+fleet [\d.]+ kW/m.test(out)) {
        clearTimeout(timer);
        const gateways = [...out.matchAll(/^\S+\s+([a-z0-9][a-z0-9._-]*) connected \(/gm)].map((m) => m[1] ?? '');
        resolveDemo({ loginUrl: `${login[1]}/login?token=${login[2]}`, origin: login[1] ?? '', gateways, output: () => out });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the demo exited early (${signal ?? code}):\n${out}`));
    });
  });
  return { demo, child };
}

async function stopDemo(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(killer);
}

/** Console errors, uncaught exceptions and CSP violations of a page, as lines. */
function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
  return problems;
}

const test = base.extend<{ problems: string[] }, { demo: Demo }>({
  demo: [
    // eslint-disable-next-line no-empty-pattern -- Playwright fixtures take their dependencies as the first argument
    async ({}, use) => {
      expect(existsSync(join(ROOT, 'dist', 'console', 'renderer', 'index.html')), 'the UI is not built: run npm run build').toBe(true);
      const { demo, child } = await startDemo();
      try {
        await use(demo);
      } finally {
        await stopDemo(child);
      }
    },
    { scope: 'worker', timeout: 180_000 },
  ],
  problems: async ({ page }, use) => {
    // Reported through the console too (the listener runs in the page, outside its CSP).
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber})`);
      });
    });
    const problems = watchProblems(page);
    await use(problems);
    expect(problems, 'console errors, exceptions or CSP violations').toEqual([]);
  },
});

// The control room's default; the light theme gets its own screenshot below.
test.use({ colorScheme: 'dark' });

async function shoot(page: Page, name: string): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function signIn(page: Page, demo: Demo): Promise<void> {
  await page.goto(demo.loginUrl);
  // The login redirect takes the token out of the address bar.
  await expect(page).toHaveURL(`${demo.origin}/`);
  await expect(page.getByRole('table', { name: 'Gateways' })).toBeVisible();
}

test('the fleet view shows every demo gateway connected', async ({ page, demo, problems }) => {
  expect(demo.gateways.length, demo.output()).toBeGreaterThanOrEqual(3);
  await signIn(page, demo);
  const table = page.getByRole('table', { name: 'Gateways' });
  await expect(table.locator('tbody tr')).toHaveCount(demo.gateways.length);
  for (const id of demo.gateways) {
    const row = table.getByRole('row').filter({ has: page.getByRole('link', { name: id, exact: true }) });
    await expect(row.getByRole('cell').first()).toHaveText(id);
    await expect(row.getByRole('cell', { name: 'connected', exact: true })).toBeVisible();
  }
  await expect(page.getByRole('status', { name: `Connected gateways: ${demo.gateways.length}` })).toBeVisible();
  await expect(page.getByRole('status', { name: 'Offline gateways: 0' })).toBeVisible();
  expect(problems).toEqual([]);
});

test('every view loads under the CSP without console errors', async ({ page, demo, problems }) => {
  await signIn(page, demo);
  // The page is served with the API's CSP (no inline script or style): the UI must work under it.
  const response = await page.request.get(`${demo.origin}/`);
  expect(response.headers()['content-security-policy']).toContain("script-src 'self'");
  const nav = page.getByRole('navigation', { name: 'Views' });
  const views: Array<{ link: string; file: string; ready: () => Promise<void> }> = [
    { link: 'Fleet', file: 'fleet', ready: () => expect(page.getByRole('table', { name: 'Active shed events' })).toBeVisible() },
    { link: 'Live load', file: 'live-load', ready: () => expect(page.locator('.chart-canvas canvas')).toBeVisible() },
    { link: 'Alarms', file: 'alarms', ready: () => expect(page.getByRole('table', { name: 'Security events' })).toBeVisible() },
    { link: 'Audit log', file: 'audit-log', ready: () => expect(page.getByRole('table', { name: 'Audit log' }).locator('tbody tr').first()).toBeVisible() },
    {
      link: 'Certificates',
      file: 'certificates',
      ready: () => expect(page.getByRole('table', { name: 'Certificates' }).or(page.getByRole('heading', { name: 'This console holds no CA' }))).toBeVisible(),
    },
  ];
  for (const v of views) {
    await nav.getByRole('link', { name: v.link, exact: true }).click();
    await expect(nav.getByRole('link', { name: v.link, exact: true })).toHaveAttribute('aria-current', 'page');
    await v.ready();
    // Let a second of live events arrive and render.
    await page.waitForTimeout(1200);
    await shoot(page, v.file);
  }

  // A gateway's detail, linked from the fleet table; linkable by its URL.
  await nav.getByRole('link', { name: 'Fleet', exact: true }).click();
  const first = demo.gateways[0] ?? '';
  await page.getByRole('table', { name: 'Gateways' }).getByRole('link', { name: first, exact: true }).click();
  await expect(page).toHaveURL(new RegExp(`#/gateway/${first}$`));
  // The site's name is the view's one level-2 heading.
  await expect(page.getByRole('heading', { level: 2 })).toHaveText(/\S/);
  await expect(page.getByRole('table', { name: 'Channels' }).getByRole('button', { name: /^Shed channel \d+$/ }).first()).toBeVisible();
  await expect(page.getByRole('table', { name: 'Recent commands' })).toBeVisible();
  await page.waitForTimeout(1200);
  await shoot(page, 'gateway');

  // The shed dialog up to its review (previewShed changes nothing at the gateways).
  await page.getByRole('button', { name: 'New shed event' }).click();
  const dialog = page.getByRole('dialog', { name: 'Shed event' });
  await dialog.getByRole('radio', { name: 'Whole fleet' }).check();
  await dialog.getByRole('radio', { name: 'Priority' }).check();
  await dialog.getByRole('spinbutton', { name: 'Highest priority' }).fill('2');
  await dialog.getByRole('button', { name: 'Review' }).click();
  await expect(dialog.getByLabel('Shed summary')).toHaveText(/(\d+ loads? on \d+ gateways?, about [\d.]+ kW, restored at [\d:-]+|Nothing to shed)/);
  await shoot(page, 'shed-review');
  await dialog.getByRole('button', { name: 'Cancel', exact: true }).click();
  await expect(dialog).toBeHidden();

  // The light theme, for daylight rooms.
  await page.getByRole('button', { name: 'Light theme' }).click();
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'light');
  await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Fleet', exact: true }).click();
  await page.waitForTimeout(800);
  await shoot(page, 'fleet-light');
  expect(problems).toEqual([]);
});

test('the audit log exports CSV as a download', async ({ page, demo, problems }) => {
  await signIn(page, demo);
  await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Audit log', exact: true }).click();
  const table = page.getByRole('table', { name: 'Audit log' });
  // The demo's own shed is audited a few seconds after its fleet line.
  await expect(async () => {
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await expect(table.locator('tbody tr').filter({ hasText: 'demo-operator' }).first()).toBeVisible({ timeout: 2_000 });
  }).toPass({ timeout: 30_000 });
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export CSV' }).click()]);
  expect(download.suggestedFilename()).toMatch(/^lmgw-audit-\d{4}-\d{2}-\d{2}T\d{4}\.csv$/);
  const file = await download.path();
  const text = readFileSync(file, 'utf8');
  expect(text.split('\r\n')[0]).toBe('\ufefftime,time_ms,operator,operation,outcome,ref,parameters,time_zone');
  expect(text).toContain('demo-operator');
  expect(problems).toEqual([]);
});
