import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startOperatorApi, type OperatorApi } from '../../../../console/hub/operator/api-server.js';
import { ROOT, run, start, tempDir, waitFor } from '../../../helpers/processes.js';
import { RecordingService } from './recording-service.js';

// docs/operator-api.md must stay true: its curl examples and its event-stream script run as
// written against a real API (with a recording service behind it), pointed there by the two
// environment variables the examples read.

const tmp = tempDir('lmgw-operator-docs-');
const service = new RecordingService();
let api: OperatorApi;
const tokenFile = join(tmp.dir, 'data', 'operator-token');

function block(section: string, lang: string): string {
  const doc = readFileSync(join(ROOT, 'docs', 'operator-api.md'), 'utf8');
  const from = doc.indexOf(`\n## ${section}`);
  const to = doc.indexOf('\n## ', from + 1);
  const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(doc.slice(from, to === -1 ? undefined : to));
  if (!m?.[1]) throw new Error(`docs/operator-api.md: no ${lang} block under "## ${section}"`);
  return m[1];
}

beforeAll(async () => {
  api = await startOperatorApi({ service, port: 0, tokenFile });
});
afterAll(async () => {
  await api.close();
  tmp.cleanup();
});

const env = (): NodeJS.ProcessEnv => ({ LMGW_API: api.url.replace(/\/$/, ''), LMGW_TOKEN_FILE: tokenFile });

it('the curl examples run as written: fleet, shed by priority, restore all', async () => {
  const ran = await run('bash', ['-euc', block('Examples with curl', 'sh')], { env: env() });
  expect(ran.stderr).toBe('');
  expect(ran.code).toBe(0);
  expect(ran.stdout).toBe('{"result":{"canned":"fleet"}}{"result":{"canned":"startShed"}}{"result":{"canned":"restoreAll"}}');
  expect(service.calls).toEqual([
    { method: 'fleet', args: [] },
    {
      method: 'startShed',
      ctx: { operator: 'operator' },
      args: [{ scope: { kind: 'fleet' }, selector: { kind: 'priority', maxPriority: 3 }, durationSeconds: 900, note: 'peak 14:30' }],
    },
    { method: 'restoreAll', ctx: { operator: 'operator' }, args: [] },
  ]);
});

it('the lmgw helper fails on a refusal and shows the error body', async () => {
  const script = `${block('Examples with curl', 'sh').split('\n# The fleet')[0] ?? ''}\nlmgw startShed '{"scope":{"kind":"fleet"}}'`;
  const ran = await run('bash', ['-euc', script], { env: env() });
  expect(ran.code).not.toBe(0);
  expect(ran.stdout).toContain('"code":"OP_BAD_REQUEST"');
  expect(ran.stdout).toContain('startShed: selector: is required');
});

it('the event-stream script prints the events it receives', async () => {
  const dir = join(tmp.dir, 'script');
  mkdirSync(dir, { recursive: true });
  // The script imports `ws`, as it would where a user ran `npm install ws`.
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  writeFileSync(join(dir, 'events.mjs'), block('The event stream', 'js'));
  const proc = start(process.execPath, [join(dir, 'events.mjs')], env());
  try {
    await waitFor(() => service.listeners.size === 1, 10_000, 'the script to subscribe');
    service.emit({ type: 'load', time: 1, fleet: { currentKw: 1, intervalStart: 0, intervalEnd: 1, averageKw: 1, projectedKw: 1, coverage: 1, peakKw: 1, peakIntervalStart: 0, targetKw: null }, gateways: {} });
    service.emit({ type: 'alarm', alarm: { id: 'a1', code: 'GATEWAY_OFFLINE', severity: 'alarm', gatewayId: 'gw-7', message: 'gw-7 is offline', raisedAt: 1 } });
    await waitFor(() => proc.output().includes('gw-7 is offline'), 10_000, 'the alarm to be printed');
    expect(proc.output()).toMatch(/^\S+Z alarm \{"type":"alarm"/m);
    expect(proc.output()).not.toContain('"type":"load"');
  } finally {
    await proc.stop();
  }
});
