import { chmodSync, writeFileSync } from 'node:fs';
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

const goodTls = { ca: 'pki/ca.pem', cert: 'server.pem', key: 'server.key', crl: 'pki/crl.pem' };

describe('lm-console --headless', () => {
  it('runs the link from a config file, accepts a gateway, and stops cleanly on SIGTERM', async () => {
    const config = writeConfig('hub.json', { listen: { host: '127.0.0.1', port: 0 }, tls: goodTls });
    const hub = start(process.execPath, [join(ROOT, 'bin', 'lm-console.js'), '--headless', '--config', config]);
    try {
      await waitFor(() => /listening on wss:\/\/127\.0\.0\.1:\d+/.test(hub.output()), 10_000, 'lm-console to listen');
      const port = Number(/127\.0\.0\.1:(\d+)\/lmgw\/v1/.exec(hub.output())?.[1]);
      const g = await ca.issueGateway({ id: 'cli-site' });
      const d = await dial(port, { caPem: ca.certificatePem, certPem: g.certPem, keyPem: g.keyPem ?? '' });
      if (d.kind !== 'open') throw new Error('refused');
      send(d.ws, aHello('cli-site'));
      expect(await nextMessage(d)).toMatchObject({ kind: 'welcome', gatewayId: 'cli-site' });
      await waitFor(() => hub.output().includes('"gateway connected"'), 5000, 'the connection log line');
      expect(hub.output()).toMatch(/"gatewayId":"cli-site"/);
    } finally {
      await hub.stop();
    }
    expect(hub.child.exitCode).toBe(0);
  });

  const bad: { name: string; config: () => string; expected: RegExp }[] = [
    { name: 'a missing TLS field', config: () => writeConfig('no-crl.json', { tls: { ...goodTls, crl: undefined } }), expected: /^lm-console: CONFIG_INVALID: .*no-crl\.json: tls\.crl: / },
    { name: 'a port out of range', config: () => writeConfig('port.json', { listen: { port: 70000 }, tls: goodTls }), expected: /CONFIG_INVALID: .*listen\.port: / },
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
