import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertificateAuthority } from '../../../certs/ca.js';
import { aCa } from '../../helpers/pki.js';
import { ROOT, runBin, start, tempDir, waitFor } from '../../helpers/processes.js';
import { aHello, dial, nextMessage, send } from './link/link-client.js';

const tmp = tempDir();
let ca: CertificateAuthority;

function writeConfig(name: string, config: unknown): string {
  const path = join(tmp.dir, name);
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}

beforeAll(async () => {
  ca = await aCa(tmp.dir, 'pki');
  const server = await ca.issueServer({ dnsNames: ['localhost'] });
  writeFileSync(join(tmp.dir, 'server.pem'), server.certPem);
  writeFileSync(join(tmp.dir, 'server.key'), server.keyPem ?? '', { mode: 0o600 });
});
afterAll(() => tmp.cleanup());

/** The operator API of a running lm-console: the URL it printed, the token from its token file. */
function operatorApi(output: string, tokenFile: string): (method: string, params?: unknown) => Promise<unknown> {
  const url = /operator console (http:\/\/127\.0\.0\.1:\d+\/)login/.exec(output)?.[1];
  if (!url) throw new Error(`no operator console URL in: ${output}`);
  const token = readFileSync(tokenFile, 'utf8').trim();
  return async (method, params = {}) => {
    const res = await fetch(new URL(`api/v1/${method}`, url), {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(params),
    });
    const body = (await res.json()) as { result?: unknown; error?: { code: string; message: string } };
    if (!res.ok) throw new Error(`${method} → ${res.status} ${body.error?.code}: ${body.error?.message}`);
    return body.result;
  };
}

const goodTls = { ca: 'pki/ca.pem', cert: 'server.pem', key: 'server.key', crl: 'pki/crl.pem' };

describe('lm-console --headless', () => {
  it('runs the hub and the operator API from a config file, accepts a gateway, and stops cleanly on SIGTERM', async () => {
    const config = writeConfig('hub.json', { listen: { host: '127.0.0.1', port: 0 }, tls: goodTls, dataDir: 'hub-data', timeZone: 'Europe/Zurich', operatorApi: { port: 0 } });
    const hub = start(process.execPath, [join(ROOT, 'bin', 'lm-console.js'), '--headless', '--config', config]);
    try {
      await waitFor(() => /data in .*\n/.test(hub.output()), 10_000, 'lm-console to start');
      const port = Number(/127\.0\.0\.1:(\d+)\/lmgw\/v1/.exec(hub.output())?.[1]);
      expect(hub.output()).toMatch(/operator console http:\/\/127\.0\.0\.1:\d+\/login\?token=[\w-]{43}\n/);
      expect(hub.output()).toContain(`data in ${join(tmp.dir, 'hub-data', 'hub.db')} (time zone Europe/Zurich)`);
      expect(statSync(join(tmp.dir, 'hub-data', 'operator-token')).mode & 0o777).toBe(0o600);
      const g = await ca.issueGateway({ id: 'cli-site' });
      const d = await dial(port, { caPem: ca.certificatePem, certPem: g.certPem, keyPem: g.keyPem ?? '' });
      if (d.kind !== 'open') throw new Error('refused');
      send(d.ws, aHello('cli-site'));
      expect(await nextMessage(d)).toMatchObject({ kind: 'welcome', gatewayId: 'cli-site' });
      const api = operatorApi(hub.output(), join(tmp.dir, 'hub-data', 'operator-token'));
      await waitFor(() => hub.output().includes('"gateway connected"'), 5000, 'the connection log line');
      expect(await api('fleet')).toMatchObject({ counts: { total: 1, connected: 1 }, gateways: [{ gatewayId: 'cli-site', state: 'connected' }] });
    } finally {
      await hub.stop();
    }
    expect(hub.child.exitCode).toBe(0);
  });

  it('keeps stdout a JSON log (ISO times, level names) that never holds the token; the banners, login URL included, go to stderr', async () => {
    const config = writeConfig('log.json', { listen: { host: '127.0.0.1', port: 0 }, tls: goodTls, dataDir: 'log-data', operatorApi: { port: 0 } });
    // The most verbose level: whatever the hub can log, it logs.
    const hub = start(process.execPath, [join(ROOT, 'bin', 'lm-console.js'), '--headless', '--config', config], { LMGW_LOG_LEVEL: 'trace' });
    let token: string | undefined;
    try {
      await waitFor(() => /data in .*\n/.test(hub.stderr()), 10_000, 'lm-console to start');
      token = readFileSync(join(tmp.dir, 'log-data', 'operator-token'), 'utf8').trim();
      expect(token).toMatch(/^[\w-]{43}$/);
      const base = /operator console (http:\/\/127\.0\.0\.1:(\d+)\/)login\?token=/.exec(hub.stderr());
      expect(hub.stderr()).toContain(`login?token=${token}\n`);
      const apiUrl = base?.[1] ?? '';
      // Everything that carries the token: the login URL, the bearer header, the session cookie — right and wrong.
      await fetch(`${apiUrl}login?token=${token}`, { redirect: 'manual' });
      await fetch(`${apiUrl}login?token=not-${token}`, { redirect: 'manual' });
      const credentials: Record<string, string>[] = [{ authorization: `Bearer ${token}` }, { authorization: `Bearer ${token}x` }, { cookie: `lmgw_operator_${base?.[2]}=${token}` }];
      for (const headers of credentials) {
        await fetch(`${apiUrl}api/v1/fleet`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: '{}' });
      }
      const port = Number(/127\.0\.0\.1:(\d+)\/lmgw\/v1/.exec(hub.stderr())?.[1]);
      const g = await ca.issueGateway({ id: 'log-site' });
      const d = await dial(port, { caPem: ca.certificatePem, certPem: g.certPem, keyPem: g.keyPem ?? '' });
      if (d.kind !== 'open') throw new Error('refused');
      send(d.ws, aHello('log-site'));
      await nextMessage(d);
      await waitFor(() => hub.stdout().includes('"gateway connected"'), 5000, 'the connection log line');
      d.ws.close();
    } finally {
      await hub.stop();
    }
    expect(hub.child.exitCode).toBe(0);
    const stdout = hub.stdout();
    if (token === undefined) throw new Error('no token read');
    expect(stdout).not.toContain(token);
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const line of lines) {
      expect(line).toMatchObject({ name: 'lm-console', level: expect.stringMatching(/^(trace|debug|info|warn|error|fatal)$/) });
      expect(line.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    }
    // What the requests above logged is there, with the token nowhere in it.
    expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['browser logged in', 'login with a missing or wrong token', 'API request without a valid token', 'query fleet', 'gateway connected']));
    expect(lines.some((l) => l.level === 'debug')).toBe(true);
    // stderr is for the person at the terminal: banner lines only, no JSON.
    expect(hub.stderr().trimEnd().split('\n').every((l) => l.startsWith('lm-console: '))).toBe(true);
  });

  it('after kill -9 keeps what was committed: the audit of a command in flight, which ends as failed (OP_HUB_RESTARTED), never resent', async () => {
    const config = writeConfig('crash.json', { listen: { host: '127.0.0.1', port: 0 }, tls: goodTls, dataDir: 'crash-data', operatorApi: { port: 0 } });
    const tokenFile = join(tmp.dir, 'crash-data', 'operator-token');
    let hub = start(process.execPath, [join(ROOT, 'bin', 'lm-console.js'), '--headless', '--config', config]);
    try {
      await waitFor(() => /data in /.test(hub.output()), 10_000, 'lm-console to start');
      const port = Number(/127\.0\.0\.1:(\d+)\/lmgw\/v1/.exec(hub.output())?.[1]);
      const g = await ca.issueGateway({ id: 'crash-site' });
      const d = await dial(port, { caPem: ca.certificatePem, certPem: g.certPem, keyPem: g.keyPem ?? '' });
      if (d.kind !== 'open') throw new Error('refused');
      send(d.ws, aHello('crash-site'));
      await nextMessage(d);
      let api = operatorApi(hub.output(), tokenFile);
      await waitFor(() => hub.output().includes('"gateway connected"'), 5000, 'the connection log line');
      // This gateway never answers: the command stays in flight until the kill.
      const inFlight = api('command', { gatewayId: 'crash-site', op: 'shed', channels: [1], durationSeconds: 60 }).catch((err: unknown) => err);
      expect(await nextMessage(d)).toMatchObject({ kind: 'command', op: 'shed' });
      const exited = new Promise((r) => hub.child.once('exit', r));
      hub.child.kill('SIGKILL');
      await exited;
      await inFlight;
      d.ws.terminate();

      hub = start(process.execPath, [join(ROOT, 'bin', 'lm-console.js'), '--headless', '--config', config]);
      await waitFor(() => /data in /.test(hub.output()), 10_000, 'lm-console to start again');
      api = operatorApi(hub.output(), tokenFile);
      const commands = (await api('commands', { gatewayId: 'crash-site' })) as { id: string; state: string; code?: string }[];
      expect(commands).toHaveLength(1);
      expect(commands[0]).toMatchObject({ state: 'failed', code: 'OP_HUB_RESTARTED' });
      const audit = (await api('audit', { operation: 'command' })) as { ref: string; outcome: string }[];
      expect(audit.filter((r) => r.ref === commands[0]?.id).map((r) => r.outcome).sort()).toEqual(['failed', 'requested']);
      expect(await api('fleet')).toMatchObject({ counts: { total: 1, connected: 0, offline: 1 } });
    } finally {
      await hub.stop();
    }
  });

  const bad: { name: string; config: () => string; expected: RegExp }[] = [
    { name: 'a missing TLS field', config: () => writeConfig('no-crl.json', { tls: { ...goodTls, crl: undefined } }), expected: /^lm-console: CONFIG_INVALID: .*no-crl\.json: tls\.crl: / },
    { name: 'a port out of range', config: () => writeConfig('port.json', { listen: { port: 70000 }, tls: goodTls }), expected: /CONFIG_INVALID: .*listen\.port: / },
    { name: 'an unknown time zone', config: () => writeConfig('tz.json', { tls: goodTls, timeZone: 'Europe/Zurch' }), expected: /CONFIG_INVALID: .*timeZone: is not an IANA time zone/ },
    { name: 'a site that is not a gateway id', config: () => writeConfig('sites.json', { tls: goodTls, sites: { 'Bad Id': { name: 'x' } } }), expected: /CONFIG_INVALID: .*sites.*Bad Id.*not a gateway id/ },
    { name: 'an unknown field', config: () => writeConfig('typo.json', { tls: goodTls, lisen: {} }), expected: /CONFIG_INVALID: .*lisen/ },
    { name: 'not JSON', config: () => { writeFileSync(join(tmp.dir, 'broken.json'), '{ listen: '); return join(tmp.dir, 'broken.json'); }, expected: /CONFIG_INVALID: .*broken\.json: not valid JSON/ },
    {
      name: 'a key readable by others',
      config: () => {
        writeFileSync(join(tmp.dir, 'open.key'), 'x', { mode: 0o644 });
        chmodSync(join(tmp.dir, 'open.key'), 0o644);
        return writeConfig('open.json', { tls: { ...goodTls, key: 'open.key' } });
      },
      expected: /^lm-console: LINK_KEY_PERMISSIONS: the key file .*open\.key has mode 0644: group or others may read it; run chmod 600/,
    },
  ];
  for (const c of bad) {
    it(`refuses ${c.name} with one line naming it`, async () => {
      const r = await runBin('lm-console', ['--headless', '--config', c.config()]);
      expect(r.code).toBe(1);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(c.expected);
    });
  }

  it('without --headless says what to do', async () => {
    const r = await runBin('lm-console', ['--config', 'x.json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/CLI_USAGE: .*--headless/);
  });
});
