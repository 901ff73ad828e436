/**
 * The console at fleet scale, in the browser: 200 simulated gateways (`lm-sim fleet`, each its own
 * mTLS session and certificate, 1 Hz telemetry) against the real hub. The fleet table renders only
 * the rows in view; a fleet-wide shed from the UI is reviewed as a summary, confirmed, and its outcome
 * counts ("200 of 200 confirmed") shown; its outcome rows are read when the operator opens the event.
 * And the Live badge is driven by the heartbeat: a stream that goes silent reads "Stale" within 3 s.
 * Screenshots go to test-results/screenshots/fleet-*.png.
 */
import { expect, test, type Page, type WebSocketRoute } from '@playwright/test';
import { join } from 'node:path';
import type { ShedEventRecord, ShedEventSummary } from '../console/hub/operator/types.js';
import { startStack, type Stack } from './fixtures/stack.js';

const SHOTS = join(import.meta.dirname, '..', 'test-results', 'screenshots');
const GATEWAYS = 200;

test.describe.configure({ mode: 'serial' });

let stack: Stack;
let page: Page;
/** While true, the route below passes nothing from the hub's event stream to the page. */
let silenced = false;
/** Console errors, uncaught exceptions and CSP violations of the page. */
const problems: string[] = [];

test.beforeAll(async ({ browser }) => {
  test.setTimeout(240_000);
  stack = await startStack([]);
  await stack.startFleet(GATEWAYS, { labels: ['e2e-fleet'] });
  page = await browser.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
  // The event stream through Playwright's WebSocket route: forwarded as is, until a test silences it.
  await page.routeWebSocket(/\/api\/v1\/events$/, (ws: WebSocketRoute) => {
    const server = ws.connectToServer();
    server.onMessage((m) => {
      if (!silenced) ws.send(m);
    });
    ws.onMessage((m) => server.send(m));
  });
  await page.goto(stack.loginUrl());
});

test.afterAll(async () => {
  await page?.close();
  await stack?.close();
});

test(`the fleet table holds ${GATEWAYS} gateways and renders only the rows in view`, async () => {
  await expect(page.getByLabel(`Connected gateways: ${GATEWAYS}`)).toBeVisible({ timeout: 30_000 });
  const table = page.getByRole('table', { name: 'Gateways' });
  await expect(table).toHaveAttribute('aria-rowcount', String(GATEWAYS + 1));
  const rendered = await table.locator('tbody tr[aria-rowindex]').count();
  expect(rendered).toBeGreaterThan(5);
  expect(rendered).toBeLessThan(GATEWAYS / 2);
  // Sorting and filtering work on the whole fleet, not the rendered rows.
  await table.getByRole('button', { name: /Gateway/ }).click();
  await expect(table.getByRole('columnheader', { name: /Gateway/ })).toHaveAttribute('aria-sort', 'descending');
  await expect(table.getByRole('row').nth(1)).toContainText(`sim-${String(GATEWAYS - 1).padStart(5, '0')}`);
  await page.getByLabel('Filter gateways').fill('sim-0019');
  await expect(table).toHaveAttribute('aria-rowcount', '11');
  await page.getByLabel('Filter gateways').fill('');
  await expect(page.getByRole('status', { name: 'Event stream: Live' })).toBeVisible();
  await page.screenshot({ path: join(SHOTS, 'fleet-table.png') });
});

test(`a fleet-wide shed from the browser: reviewed as a summary, confirmed on ${GATEWAYS} of ${GATEWAYS}`, async () => {
  await page.getByRole('button', { name: 'New shed event' }).click();
  const dialog = page.getByRole('dialog', { name: 'Shed event' });
  await dialog.getByRole('radio', { name: 'Whole fleet' }).check();
  await dialog.getByRole('radio', { name: 'Priority', exact: true }).check();
  await dialog.getByLabel('Highest priority').fill('1');
  await dialog.getByLabel('Duration (minutes)').fill('10');
  await dialog.getByRole('button', { name: 'Review' }).click();
  // Each simulated gateway has two loads of priority 1 (channels 1 and 2).
  await expect(dialog.getByLabel('Shed summary')).toContainText(`${GATEWAYS * 2} loads on ${GATEWAYS} gateways`);
  // A summary, not a list of every gateway: the label's totals and the first 20 rows.
  await expect(dialog.getByRole('table', { name: 'Plan by label' }).getByRole('row').filter({ hasText: 'e2e-fleet' })).toContainText(String(GATEWAYS));
  await expect(dialog.getByRole('list', { name: 'First gateways of the plan' }).getByRole('listitem')).toHaveCount(21);
  await page.screenshot({ path: join(SHOTS, 'fleet-shed-review.png') });
  await dialog.getByRole('button', { name: 'Confirm shed' }).click();

  const active = page.getByRole('table', { name: 'Active shed events' });
  await expect(active.getByRole('row').nth(1)).toContainText(`${GATEWAYS} of ${GATEWAYS} confirmed`, { timeout: 60_000 });
  // The dialog closes by itself once every gateway confirmed.
  await expect(dialog).toBeHidden();
  await expect(page.getByLabel(`Shedding gateways: ${GATEWAYS}`)).toBeVisible();
  await page.screenshot({ path: join(SHOTS, 'fleet-shed-active.png'), fullPage: true });

  // What the UI claims, against the hub: every outcome row in place and confirmed.
  const [summary] = await stack.api<ShedEventSummary[]>('shedEvents', { activeOnly: true });
  expect(summary).toBeDefined();
  const record = await stack.api<ShedEventRecord>('shedEvent', { eventId: summary?.id });
  expect(record.outcomes).toHaveLength(GATEWAYS);
  expect(record.outcomes.every((o) => o.state === 'confirmed')).toBe(true);

  // The event's outcome rows, read when the operator opens it.
  await active.getByRole('button', { name: `Details of shed event ${record.id}` }).click();
  const detail = page.getByRole('dialog', { name: `Shed event ${record.id}` });
  await expect(detail.getByLabel('Event outcome')).toContainText(`${GATEWAYS} of ${GATEWAYS} confirmed`);
  await expect(detail.getByRole('table', { name: 'Outcomes' })).toHaveAttribute('aria-rowcount', String(GATEWAYS + 1));
  await page.screenshot({ path: join(SHOTS, 'fleet-shed-detail.png') });
  await detail.getByRole('button', { name: 'Close' }).click();

  // And back: restore all.
  await page.getByRole('button', { name: 'Restore all' }).click();
  await page.getByRole('dialog', { name: 'Restore all' }).getByRole('button', { name: 'Confirm restore all' }).click();
  await expect(page.getByLabel('Shedding gateways: 0')).toBeVisible({ timeout: 60_000 });
  await expect(active.getByText('No shed event is active.')).toBeVisible();
});

test('a stream gone silent reads "Stale" within 3 s, and Live again once it is back', async () => {
  await expect(page.getByRole('status', { name: 'Event stream: Live' })).toBeVisible();
  silenced = true;
  const silentAt = Date.now();
  await expect(page.getByRole('status', { name: 'Event stream: Stale' })).toBeVisible({ timeout: 5_000 });
  // The heartbeat comes every second: 3 s of silence, checked every half second.
  expect(Date.now() - silentAt).toBeLessThan(4_500);
  await expect(page.getByRole('alert').filter({ hasText: 'figures below are frozen' })).toBeVisible();
  await page.screenshot({ path: join(SHOTS, 'fleet-stale.png') });
  silenced = false;
  // The page drops a silent stream and connects again (then reads the snapshots again).
  await expect(page.getByRole('status', { name: 'Event stream: Live' })).toBeVisible({ timeout: 30_000 });
  await expect(page.getByLabel(`Connected gateways: ${GATEWAYS}`)).toBeVisible();
  expect(problems, 'console errors, exceptions or CSP violations').toEqual([]);
});
