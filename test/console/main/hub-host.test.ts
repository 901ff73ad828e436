/**
 * The hub's utilityProcess logic in plain Node: runHubHost — what hub-entry.ts runs in Electron —
 * against a real hub (startHub, a CA made with our certs/ code, the link on 127.0.0.1 port 0), with
 * a transport that structured-clones every message both ways as Electron's channel does. And
 * createHubBridge alone, for what a real hub does not easily produce (an unexpected exception).
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LmgwError } from '../../../shared/errors.js';
import type { BridgeReply } from '../../../shared/operator-bridge.js';
import type { AuditRecord, HubInfo, OperatorEvent } from '../../../console/hub/operator/types.js';
import { createHubBridge } from '../../../console/main/hub-bridge.js';
import { runHubHost } from '../../../console/main/hub-host.js';
import type { HubToMain, MainToHub, ReadyMessage, ReplyMessage } from '../../../console/main/hub-messages.js';
import { loadSettings } from '../../../console/main/settings.js';
import type { HubConfig } from '../../../console/hub/config.js';
import { hubOptionsFromConfig } from '../../../console/hub/hub-options.js';
import { aLinkPki } from '../../agent/fixtures/link.js';
import { tempDir, waitFor } from '../../helpers/processes.js';
import { RecordingService } from '../hub/operator/recording-service.js';

/** A hub host wired to queues, as hub-entry.ts wires it to process.parentPort. */
function aHost() {
  const out: HubToMain[] = [];
  let listener: ((m: unknown) => void) | undefined;
  let exitCode: number | undefined;
  runHubHost({
    send: (m) => void out.push(structuredClone(m)),
    onMessage: (l) => void (listener = l),
    exit: (code) => void (exitCode = code),
  });
  let nextId = 1;
  const post = (m: MainToHub | Record<string, unknown>): void => listener?.(structuredClone(m));
  return {
    out,
    post,
    exitCode: () => exitCode,
    async next<T extends HubToMain['type']>(type: T, timeoutMs = 20_000): Promise<Extract<HubToMain, { type: T }>> {
      await waitFor(() => out.some((m) => m.type === type), timeoutMs, `a ${type} message`);
      const i = out.findIndex((m) => m.type === type);
      return out.splice(i, 1)[0] as Extract<HubToMain, { type: T }>;
    },
    async call(method: string, params: unknown): Promise<BridgeReply> {
      const id = nextId++;
      post({ type: 'call', id, method, params });
      await waitFor(() => out.some((m) => m.type === 'reply' && m.id === id), 10_000, `the reply to ${method}`);
      const i = out.findIndex((m) => m.type === 'reply' && m.id === id);
      return (out.splice(i, 1)[0] as ReplyMessage).reply;
    },
  };
}

describe('runHubHost with a real hub', () => {
  const tmp = tempDir('lmgw-hub-host-');
  let config: HubConfig;
  const host = aHost();
  let ready: ReadyMessage;

  beforeAll(async () => {
    const pki = await aLinkPki(tmp.dir);
    writeFileSync(join(tmp.dir, 'server.pem'), pki.server.certPem);
    writeFileSync(join(tmp.dir, 'server.key'), pki.server.keyPem, { mode: 0o600 });
    writeFileSync(
      join(tmp.dir, 'settings.json'),
      JSON.stringify({
        listen: { host: '127.0.0.1', port: 0 },
        tls: { ca: 'pki/ca.pem', cert: 'server.pem', key: 'server.key', crl: 'pki/crl.pem' },
        timeZone: 'Europe/Zurich',
      }),
    );
    const settings = loadSettings(join(tmp.dir, 'settings.json'));
    if (settings.kind !== 'ok') throw new Error(`test settings: ${JSON.stringify(settings)}`);
    config = settings.config;
    host.post({ type: 'start', config, operator: 'alice', logFile: join(tmp.dir, 'logs', 'hub.log') });
    ready = await host.next('ready');
  });
  afterAll(async () => {
    host.post({ type: 'stop' });
    await waitFor(() => host.exitCode() !== undefined, 15_000, 'the hub host to exit');
    tmp.cleanup();
  });

  it('starts the hub from the settings and says where the link and the data are', () => {
    expect(ready.linkUrl).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/lmgw\/v1$/);
    expect(ready.databasePath.startsWith(join(tmp.dir, 'data'))).toBe(true);
    expect(ready.timeZone).toBe('Europe/Zurich');
  });

  it('answers info with the hub\'s own record', async () => {
    const reply = await host.call('info', {});
    expect(reply.ok).toBe(true);
    if (!reply.ok) return;
    const info = reply.result as HubInfo;
    expect(info).toMatchObject({ version: expect.any(String), timeZone: 'Europe/Zurich', linkUrl: ready.linkUrl, caConfigured: false });
  });

  it('validates again on the hub side: bad params and unknown methods are OP_BAD_REQUEST', async () => {
    const bad = await host.call('startShed', { scope: { kind: 'fleet' }, selector: { kind: 'priority', maxPriority: 1000 }, durationSeconds: 60 });
    expect(bad).toMatchObject({ ok: false, error: { code: 'OP_BAD_REQUEST', message: expect.stringContaining('selector.maxPriority') } });
    const unknown = await host.call('dropTables', {});
    expect(unknown).toMatchObject({ ok: false, error: { code: 'OP_BAD_REQUEST', message: expect.stringContaining('not an operator method') } });
  });

  it('keeps a domain refusal\'s own code', async () => {
    expect(await host.call('gateway', { gatewayId: 'site-none' })).toMatchObject({ ok: false, error: { code: 'OP_NOT_FOUND' } });
    expect(await host.call('certificates', {})).toMatchObject({ ok: false, error: { code: 'OP_NO_CA' } });
  });

  it('audits an operation under the OS user the app was started for', async () => {
    expect(await host.call('setTarget', { targetKw: 750 })).toEqual({ ok: true, result: null });
    const audit = await host.call('audit', { operation: 'set-target' });
    expect(audit.ok).toBe(true);
    if (!audit.ok) return;
    expect(audit.result as AuditRecord[]).toEqual([expect.objectContaining({ operator: 'alice', operation: 'set-target', parameters: { targetKw: 750 } })]);
  });

  it('forwards the hub\'s events (the load figures every second)', async () => {
    const message = await host.next('event', 5_000);
    const event = message.event as OperatorEvent;
    expect(['heartbeat', 'load', 'gateways', 'alarm', 'command', 'shed-event', 'security']).toContain(event.type);
    const load = await waitForLoad(host);
    expect(load.fleet.targetKw).toBe(750);
  });

  it('logs to its file as every LMGW process does: JSON lines, ISO times, level names', async () => {
    const file = join(tmp.dir, 'logs', 'hub.log');
    const lines = (): Record<string, unknown>[] => {
      try {
        return readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
      } catch {
        return [];
      }
    };
    await waitFor(() => lines().some((l) => l.msg === 'hub started for the desktop app'), 5_000, 'the start line in hub.log');
    expect(lines().find((l) => l.msg === 'hub started for the desktop app')).toMatchObject({
      level: 'info',
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      name: 'lmgw-console',
      process: 'hub',
      operator: 'alice',
    });
  });

  it('ignores a second start and drops what is not a message', async () => {
    host.post({ type: 'start', config, operator: 'mallory' });
    host.post({ type: 'call', id: 'x', method: 'info' });
    host.post({ type: 'reboot' });
    const audit = await host.call('info', {});
    expect(audit.ok).toBe(true);
    expect(host.out.filter((m) => m.type === 'ready' || m.type === 'failed' || m.type === 'reply')).toEqual([]);
  });
});

async function waitForLoad(host: ReturnType<typeof aHost>): Promise<Extract<OperatorEvent, { type: 'load' }>> {
  for (;;) {
    const m = await host.next('event', 5_000);
    const e = m.event as OperatorEvent;
    if (e.type === 'load') return e;
  }
}

describe('runHubHost when the hub cannot start', () => {
  const tmp = tempDir('lmgw-hub-host-fail-');
  let base: HubConfig;

  beforeAll(async () => {
    const pki = await aLinkPki(tmp.dir);
    writeFileSync(join(tmp.dir, 'server.pem'), pki.server.certPem);
    writeFileSync(join(tmp.dir, 'server.key'), pki.server.keyPem, { mode: 0o600 });
    writeFileSync(join(tmp.dir, 'settings.json'), JSON.stringify({ listen: { host: '127.0.0.1', port: 0 }, tls: { ca: 'pki/ca.pem', cert: 'server.pem', key: 'server.key', crl: 'pki/crl.pem' } }));
    const s = loadSettings(join(tmp.dir, 'settings.json'));
    if (s.kind !== 'ok') throw new Error('test settings');
    base = s.config;
  });
  afterAll(() => tmp.cleanup());

  async function failure(config: HubConfig, extra: Record<string, unknown> = {}): Promise<{ code: string; message: string }> {
    const host = aHost();
    host.post({ type: 'start', config, operator: 'alice', ...extra });
    const failed = await host.next('failed');
    // Not running: a call is answered, never left hanging.
    expect(await host.call('info', {})).toMatchObject({ ok: false, error: { code: 'OP_INTERNAL', message: 'the hub is not running' } });
    return failed.error;
  }

  it('names the TLS file it cannot read', async () => {
    const error = await failure({ ...base, tls: { ...base.tls, cert: join(tmp.dir, 'missing.pem') } });
    expect(error).toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('tls.cert') });
  });

  it('refuses a key file others may read', async () => {
    const loose = join(tmp.dir, 'loose.key');
    writeFileSync(loose, 'x');
    chmodSync(loose, 0o644);
    expect(await failure({ ...base, tls: { ...base.tls, key: loose } })).toMatchObject({ code: 'LINK_KEY_PERMISSIONS' });
  });

  it('names a bad LMGW_LOG_LEVEL and the levels it takes, instead of dying on it', async () => {
    vi.stubEnv('LMGW_LOG_LEVEL', 'verbose');
    try {
      expect(await failure(base, { logFile: join(tmp.dir, 'logs', 'hub.log') })).toEqual({
        code: 'CLI_USAGE',
        message: 'LMGW_LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent, not "verbose"',
      });
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('asks for the CA passphrase when the settings name a CA directory', async () => {
    expect(await failure({ ...base, ca: { dir: join(tmp.dir, 'pki') } })).toMatchObject({ code: 'CA_NO_PASSPHRASE' });
  });

  it('never gives the desktop hub the browser-mode operator API, whatever the settings say', () => {
    expect(base.operatorApi.enabled).toBe(true); // the schema's default
    const desktop = hubOptionsFromConfig({ config: base, logger: pino({ level: 'silent' }), withOperatorApi: false });
    expect(desktop).not.toHaveProperty('operatorApi');
    expect(desktop.link.port).toBe(0);
    const headless = hubOptionsFromConfig({ config: base, logger: pino({ level: 'silent' }), withOperatorApi: true });
    expect(headless.operatorApi).toEqual({ host: '127.0.0.1', port: 8480, tokenName: 'operator' });
  });

  it('does not judge a key file by Unix mode bits on Windows', () => {
    const loose = join(tmp.dir, 'windows.key');
    writeFileSync(loose, 'x');
    chmodSync(loose, 0o666);
    const config = { ...base, tls: { ...base.tls, key: loose } };
    expect(() => hubOptionsFromConfig({ config, logger: pino({ level: 'silent' }), withOperatorApi: false, platform: 'linux' })).toThrow(LmgwError);
    expect(hubOptionsFromConfig({ config, logger: pino({ level: 'silent' }), withOperatorApi: false, platform: 'win32' }).link.keyPem).toBe('x');
  });

  it('validates the settings again (a config main did not check is refused)', async () => {
    const error = await failure({ ...base, listen: { host: '127.0.0.1', port: 70000 } });
    expect(error).toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('listen.port') });
  });
});

describe('createHubBridge', () => {
  it('runs a valid call as the desktop operator and returns null for a void operation', async () => {
    const service = new RecordingService();
    const bridge = createHubBridge(service, { operator: 'alice' });
    expect(await bridge.handle({ method: 'setTarget', params: { targetKw: 10 } })).toEqual({ ok: true, result: null });
    expect(service.calls).toEqual([{ method: 'setTarget', ctx: { operator: 'alice' }, args: [{ targetKw: 10 }] }]);
  });

  it('refuses before the service sees anything', async () => {
    const service = new RecordingService();
    const bridge = createHubBridge(service, { operator: 'alice' });
    for (const call of [{ method: 'dropTables', params: {} }, { method: 'info', params: { x: 1 } }, { method: 42 }, 'info', null]) {
      expect(await bridge.handle(call)).toMatchObject({ ok: false, error: { code: 'OP_BAD_REQUEST' } });
    }
    expect(service.calls).toEqual([]);
  });

  it('passes an LmgwError through with its code, and hides an unexpected error behind a reference', async () => {
    const service = new RecordingService();
    const bridge = createHubBridge(service, { operator: 'alice' });
    service.failWith = new LmgwError('OP_GATEWAY_OFFLINE', 'site-1 is not connected');
    expect(await bridge.handle({ method: 'restoreAll', params: {} })).toEqual({ ok: false, error: { code: 'OP_GATEWAY_OFFLINE', message: 'site-1 is not connected' } });
    service.failWith = new Error('SQLITE_CORRUPT at /secret/path/hub.db');
    const reply = await bridge.handle({ method: 'fleet', params: {} });
    expect(reply).toMatchObject({ ok: false, error: { code: 'OP_INTERNAL', message: expect.stringMatching(/^internal error \(ref [0-9a-f]{12}\)/) } });
    expect(JSON.stringify(reply)).not.toContain('secret');
  });
});
