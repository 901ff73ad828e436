/**
 * The operator's flows through the UI, against a real installation (fixtures/stack.ts): the fleet
 * appears; one channel shed → mbpoll sees the relay off → the UI shows it confirmed; a fleet-wide
 * event by priority watched to its auto-restore; a gateway revoked from the UI drops offline with a
 * security alarm; an agent behind mitmproxy → *interception suspected* shown once its path is clean;
 * the console restarted → the fleet comes back. Screenshots of the views go to
 * test-results/screenshots/flow-*.png.
 */
import { expect, test, type Page } from '@playwright/test';
import { join } from 'node:path';
import { freePort } from '../test/agent/fixtures/link.js';
import { startMitmproxy, startStack, startTinyproxy, type Stack } from './fixtures/stack.js';

const SHOTS = join(import.meta.dirname, '..', 'test-results', 'screenshots');
const SITES = [
  { id: 'site-a', name: 'Bakery A' },
  { id: 'site-b', name: 'School B' },
  { id: 'site-c', name: 'Farm C' },
];

test.describe.configure({ mode: 'serial' });

let stack: Stack;
let page: Page;

test.beforeAll(async ({ browser }) => {
  stack = await startStack(SITES);
  page = await browser.newPage();
  await page.goto(stack.loginUrl());
});

test.afterAll(async () => {
  await page?.close();
  await stack?.close();
});

function gatewayRow(id: string) {
  return page.getByRole('table', { name: 'Gateways' }).getByRole('row').filter({ hasText: id });
}

async function view(name: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name }).click();
}

test('the fleet appears: three gateways connected, with live load', async () => {
  await view('Fleet');
  for (const s of SITES) await expect(gatewayRow(s.id)).toContainText('connected', { timeout: 30_000 });
  await expect(page.getByLabel('Connected gateways: 3')).toBeVisible();
  await page.screenshot({ path: join(SHOTS, 'flow-fleet.png'), fullPage: true });
});

test('shed one channel: lm-sim\'s relay goes off as mbpoll sees it, and the UI shows it confirmed', async () => {
  await gatewayRow('site-a').getByRole('link', { name: 'site-a', exact: true }).or(gatewayRow('site-a').getByRole('button', { name: 'site-a', exact: true })).first().click();
  await expect(page.getByRole('heading', { level: 2, name: 'Bakery A' })).toBeVisible();
  await page.getByRole('button', { name: 'Shed channel 1', exact: true }).click();
  await page.getByLabel('Duration (minutes)').fill('10');
  await page.getByRole('button', { name: 'Confirm shed channel 1', exact: true }).click();
  const commands = page.getByRole('table', { name: 'Recent commands' });
  await expect(commands.getByRole('row').nth(1)).toContainText('confirmed');
  expect(await stack.relays('site-a')).toEqual(['0', '1', '1', '1']);
  await page.screenshot({ path: join(SHOTS, 'flow-gateway.png'), fullPage: true });
  // And back on, from the UI.
  await page.getByRole('button', { name: 'Restore channel 1', exact: true }).click();
  await expect.poll(() => stack.relays('site-a')).toEqual(['1', '1', '1', '1']);
});

test('a fleet-wide shed by priority, confirmed, counted down and auto-restored at its end', async () => {
  await view('Fleet');
  await page.getByRole('button', { name: 'New shed event' }).click();
  const dialog = page.getByRole('dialog', { name: 'Shed event' });
  await dialog.getByRole('radio', { name: 'Whole fleet' }).check();
  await dialog.getByRole('radio', { name: 'Priority', exact: true }).check();
  await dialog.getByLabel('Highest priority').fill('1');
  await dialog.getByLabel('Duration (minutes)').fill('1');
  await dialog.getByRole('button', { name: 'Review' }).click();
  await expect(dialog.getByLabel('Shed summary')).toContainText('6 loads on 3 gateways');
  await page.screenshot({ path: join(SHOTS, 'flow-shed-dialog.png') });
  const confirmedAt = Date.now();
  await dialog.getByRole('button', { name: 'Confirm shed' }).click();
  const active = page.getByRole('table', { name: 'Active shed events' });
  await expect(active.getByRole('row')).toHaveCount(2);
  for (const s of SITES) await expect.poll(() => stack.relays(s.id)).toEqual(['0', '0', '1', '1']);
  await page.screenshot({ path: join(SHOTS, 'flow-event-active.png'), fullPage: true });
  // The agents restore on their own after the minute; the event leaves the active list.
  await expect(active.getByText('No shed event is active.')).toBeVisible({ timeout: 90_000 });
  // At its end, not before: the event ends a minute after it was created (after the click), and an
  // operator must never see an empty list while its loads are off.
  expect(Date.now() - confirmedAt, 'the event left the active list before its end').toBeGreaterThan(55_000);
  for (const s of SITES) await expect.poll(() => stack.relays(s.id), { timeout: 15_000 }).toEqual(['1', '1', '1', '1']);
});

test('an agent behind an intercepting proxy: nothing sent through it, "interception suspected" shown once its path is clean', async () => {
  const port = await freePort();
  const mitm = await startMitmproxy(port, join(stack.dir, 'mitmproxy'));
  await stack.addSite({ id: 'site-d', name: 'Shop D', proxy: `http://127.0.0.1:${port}` });
  await expect.poll(() => stack.agentOutput('site-d'), { timeout: 30_000 }).toMatch(/interception suspected/);
  // The site replaces its proxy by a clean one on the same address; the agent gets through and reports.
  await mitm.stop();
  const clean = await startTinyproxy(port, join(stack.dir, 'tinyproxy'));
  try {
    await view('Alarms');
    const alarms = page.getByRole('table', { name: 'Alarms' });
    await expect(alarms.getByRole('row').filter({ hasText: 'LINK_INTERCEPTION_SUSPECTED' }).filter({ hasText: 'site-d' })).toBeVisible({ timeout: 60_000 });
    await page.screenshot({ path: join(SHOTS, 'flow-alarms-interception.png'), fullPage: true });
  } finally {
    await clean.stop();
  }
});

test('revoking a gateway from the UI drops it offline with a security alarm', async () => {
  await view('Certificates');
  const certs = page.getByRole('table', { name: 'Certificates' });
  const row = certs.getByRole('row').filter({ hasText: 'site-c' }).filter({ hasText: /in use|yes/i }).first();
  await row.getByRole('button', { name: 'Revoke' }).click();
  const dialog = page.getByRole('dialog', { name: 'Revoke certificate' });
  await dialog.getByLabel('Reason').selectOption('keyCompromise');
  await page.screenshot({ path: join(SHOTS, 'flow-revoke.png') });
  await dialog.getByRole('button', { name: 'Revoke certificate' }).click();
  await view('Fleet');
  await expect(gatewayRow('site-c')).toContainText('offline', { timeout: 10_000 });
  await view('Alarms');
  await expect(page.getByRole('table', { name: 'Alarms' }).getByRole('row').filter({ hasText: 'LINK_CERT_REVOKED' }).filter({ hasText: 'site-c' }).first()).toBeVisible();
  await page.screenshot({ path: join(SHOTS, 'flow-alarms-revoked.png'), fullPage: true });
  await expect(page.getByRole('table', { name: 'Security events' }).getByRole('row').filter({ hasText: 'LINK_CERT_REVOKED' }).first()).toBeVisible();
});

test('the console restarted: the fleet comes back, the history is kept', async () => {
  await stack.restartConsole();
  await page.goto(stack.loginUrl());
  await view('Fleet');
  for (const id of ['site-a', 'site-b']) await expect(gatewayRow(id)).toContainText('connected', { timeout: 30_000 });
  await expect(gatewayRow('site-c')).toContainText('offline');
  await view('Audit log');
  await expect(page.getByRole('table', { name: 'Audit log' }).getByRole('row').filter({ hasText: 'shed-event' }).first()).toBeVisible();
  await page.screenshot({ path: join(SHOTS, 'flow-audit.png'), fullPage: true });
});
