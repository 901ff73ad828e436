import { createHash } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CA_ENV } from '../helpers/pki.js';
import { run, runBin, start, tempDir, waitFor } from '../helpers/processes.js';

// The `lmgw-ca` flow as the README documents it, checked by the real openssl binary.

const tmp = tempDir();
const pki = join(tmp.dir, 'pki');
const ca = (...args: string[]) => runBin('lmgw-ca', args, CA_ENV);
const openssl = (...args: string[]) => run('openssl', args, { cwd: tmp.dir });

function fingerprint(...files: string[]): string {
  const h = createHash('sha256');
  for (const f of files) h.update(readFileSync(f));
  return h.digest('hex');
}

afterAll(() => tmp.cleanup());

describe('lmgw-ca, end to end with openssl', () => {
  beforeAll(async () => {
    const r = await ca('init', '--pki', pki, '--name', 'Test DSO Root');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('init makes an encrypted CA key, a root certificate and a CRL that openssl accepts', async () => {
    expect(readFileSync(join(pki, 'ca.key'), 'utf8')).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    expect(statSync(join(pki, 'ca.key')).mode & 0o077).toBe(0);
    const text = await openssl('x509', '-in', join(pki, 'ca.pem'), '-noout', '-text');
    expect(text.stdout).toMatch(/Subject: CN ?= ?Test DSO Root/);
    expect(text.stdout).toMatch(/CA:TRUE/);
    expect(text.stdout).toMatch(/ASN1 OID: prime256v1/);
    const crl = await openssl('crl', '-in', join(pki, 'crl.pem'), '-noout', '-CAfile', join(pki, 'ca.pem'), '-verify');
    expect(crl.stderr).toMatch(/verify OK/);
    // The key opens with the passphrase in openssl too, and not without it.
    expect((await openssl('pkey', '-in', join(pki, 'ca.key'), '-passin', `pass:${CA_ENV.LMGW_CA_PASSPHRASE}`, '-noout')).code).toBe(0);
    expect((await openssl('pkey', '-in', join(pki, 'ca.key'), '-passin', 'pass:wrong passphrase', '-noout')).code).not.toBe(0);
  });

  it('issues a server certificate with serverAuth and the SANs asked for', async () => {
    const r = await ca('issue-server', '--pki', pki, '--dns', 'console.dso.example', '--dns', 'localhost', '--ip', '127.0.0.1', '--out', join(tmp.dir, 'server'));
    expect(r.code, r.stderr).toBe(0);
    const cert = join(tmp.dir, 'server', 'server.pem');
    expect(statSync(join(tmp.dir, 'server', 'server.key')).mode & 0o077).toBe(0);
    const ok = await openssl('verify', '-CAfile', join(pki, 'ca.pem'), '-purpose', 'sslserver', cert);
    expect(ok.stdout).toMatch(/: OK/);
    const text = await openssl('x509', '-in', cert, '-noout', '-ext', 'subjectAltName,extendedKeyUsage');
    expect(text.stdout).toMatch(/DNS:console\.dso\.example, DNS:localhost, IP Address:127\.0\.0\.1/);
    expect(text.stdout).toMatch(/TLS Web Server Authentication/);
    // The key belongs to the certificate.
    const pub1 = await openssl('pkey', '-in', join(tmp.dir, 'server', 'server.key'), '-pubout');
    const pub2 = await openssl('x509', '-in', cert, '-noout', '-pubkey');
    expect(pub1.stdout).toBe(pub2.stdout);
  });

  it('issues a gateway certificate (clientAuth, CN and URN) that passes -crl_check until revoked', async () => {
    const r = await ca('issue-gateway', '--pki', pki, '--id', 'site-0001', '--out', join(tmp.dir, 'gw1'));
    expect(r.code, r.stderr).toBe(0);
    const cert = join(tmp.dir, 'gw1', 'gateway.pem');
    const text = await openssl('x509', '-in', cert, '-noout', '-subject', '-ext', 'subjectAltName,extendedKeyUsage,keyUsage', '-serial');
    expect(text.stdout).toMatch(/subject=CN ?= ?site-0001/);
    expect(text.stdout).toMatch(/URI:urn:lmgw:gateway:site-0001/);
    expect(text.stdout).toMatch(/TLS Web Client Authentication/);
    const serialHex = /serial=([0-9A-F]+)/.exec(text.stdout)?.[1] ?? '';
    expect(serialHex.length * 4).toBeGreaterThanOrEqual(64);

    const before = await openssl('verify', '-crl_check', '-CAfile', join(pki, 'ca.pem'), '-CRLfile', join(pki, 'crl.pem'), '-purpose', 'sslclient', cert);
    expect(before.stdout).toMatch(/: OK/);

    const revoked = await ca('revoke', '--pki', pki, '--id', 'site-0001', '--reason', 'keyCompromise');
    expect(revoked.code, revoked.stderr).toBe(0);
    const after = await openssl('verify', '-crl_check', '-CAfile', join(pki, 'ca.pem'), '-CRLfile', join(pki, 'crl.pem'), cert);
    expect(after.code).not.toBe(0);
    expect(after.stdout + after.stderr).toMatch(/certificate revoked/);
    const crl = await openssl('crl', '-in', join(pki, 'crl.pem'), '-noout', '-text');
    expect(crl.stdout).toMatch(/Version 2/);
    expect(crl.stdout).toContain(`Serial Number: ${serialHex}`);
    expect(crl.stdout).toMatch(/Key Compromise/);
    expect(crl.stdout).toMatch(/CRL Number:\s*\n\s*2/);

    const list = JSON.parse((await ca('list', '--pki', pki, '--json')).stdout) as { id: string | null; status: string; reason?: string }[];
    expect(list.find((c) => c.id === 'site-0001')).toMatchObject({ status: 'revoked', reason: 'keyCompromise' });
  });

  it('crl --days sets nextUpdate and bumps the CRL number; --out writes a copy', async () => {
    const out = join(tmp.dir, 'copy-crl.pem');
    const r = await ca('crl', '--pki', pki, '--days', '3', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    const text = await openssl('crl', '-in', out, '-noout', '-lastupdate', '-nextupdate', '-crlnumber');
    const last = Date.parse(/lastUpdate=(.*)/.exec(text.stdout)?.[1] ?? '');
    const next = Date.parse(/nextUpdate=(.*)/.exec(text.stdout)?.[1] ?? '');
    expect(next - last).toBe(3 * 86_400_000);
    expect(text.stdout).toMatch(/crlNumber=0x0?3\n/);
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(join(pki, 'crl.pem'), 'utf8'));
  });

  it('signs a CSR made by openssl itself: the key never leaves the gateway', async () => {
    const key = join(tmp.dir, 'gw-own.key');
    const csr = join(tmp.dir, 'gw-own.csr');
    const made = await openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-subj', '/CN=site-0100', '-out', csr);
    expect(made.code, made.stderr).toBe(0);
    const out = join(tmp.dir, 'gw-own.pem');
    const r = await ca('sign', '--pki', pki, '--csr', csr, '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect((await openssl('verify', '-CAfile', join(pki, 'ca.pem'), '-purpose', 'sslclient', out)).stdout).toMatch(/: OK/);
    // Not usable as a server certificate.
    expect((await openssl('verify', '-CAfile', join(pki, 'ca.pem'), '-purpose', 'sslserver', out)).code).not.toBe(0);
    const text = await openssl('x509', '-in', out, '-noout', '-ext', 'subjectAltName');
    expect(text.stdout).toMatch(/URI:urn:lmgw:gateway:site-0100/);
  });

  it('re-issuing for an existing id needs --renew, which supersedes the old certificate', async () => {
    const first = await ca('issue-gateway', '--pki', pki, '--id', 'site-0200', '--out', join(tmp.dir, 'r1'));
    expect(first.code, first.stderr).toBe(0);
    const again = await ca('issue-gateway', '--pki', pki, '--id', 'site-0200', '--out', join(tmp.dir, 'r2'));
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^lmgw-ca: CA_ID_EXISTS: .*--renew/);
    const renewed = await ca('issue-gateway', '--pki', pki, '--id', 'site-0200', '--out', join(tmp.dir, 'r3'), '--renew');
    expect(renewed.code, renewed.stderr).toBe(0);
    const old = await openssl('verify', '-crl_check', '-CAfile', join(pki, 'ca.pem'), '-CRLfile', join(pki, 'crl.pem'), join(tmp.dir, 'r1', 'gateway.pem'));
    expect(old.stdout + old.stderr).toMatch(/certificate revoked/);
    const fresh = await openssl('verify', '-crl_check', '-CAfile', join(pki, 'ca.pem'), '-CRLfile', join(pki, 'crl.pem'), join(tmp.dir, 'r3', 'gateway.pem'));
    expect(fresh.stdout).toMatch(/: OK/);
    expect((await openssl('crl', '-in', join(pki, 'crl.pem'), '-noout', '-text')).stdout).toMatch(/Superseded/);
  });

  it('revokes by the serial exactly as openssl prints it', async () => {
    expect((await ca('issue-gateway', '--pki', pki, '--id', 'site-0500', '--out', join(tmp.dir, 's5'))).code).toBe(0);
    const printed = (await openssl('x509', '-in', join(tmp.dir, 's5', 'gateway.pem'), '-noout', '-serial')).stdout.trim().replace('serial=', '');
    const r = await ca('revoke', '--pki', pki, '--serial', printed, '--reason', 'superseded');
    expect(r.code, r.stderr).toBe(0);
    const v = await openssl('verify', '-crl_check', '-CAfile', join(pki, 'ca.pem'), '-CRLfile', join(pki, 'crl.pem'), join(tmp.dir, 's5', 'gateway.pem'));
    expect(v.stdout + v.stderr).toMatch(/certificate revoked/);
  });

  it('the OCSP responder answers good and revoked, and openssl verifies its signature', async () => {
    const r = await ca('issue-gateway', '--pki', pki, '--id', 'site-0300', '--out', join(tmp.dir, 'o1'));
    expect(r.code, r.stderr).toBe(0);
    const responder = start(process.execPath, ['bin/lmgw-ca.js', 'ocsp', '--pki', pki, '--port', '0'], CA_ENV);
    try {
      await waitFor(() => /on http:\/\/127\.0\.0\.1:(\d+)/.test(responder.output()), 10_000, 'the OCSP responder');
      const url = /(http:\/\/127\.0\.0\.1:\d+)/.exec(responder.output())?.[1] ?? '';
      const ask = () =>
        openssl('ocsp', '-issuer', join(pki, 'ca.pem'), '-CAfile', join(pki, 'ca.pem'), '-url', url,
          '-cert', join(tmp.dir, 'o1', 'gateway.pem'), '-cert', join(tmp.dir, 'gw1', 'gateway.pem'));
      const first = await ask();
      expect(first.stderr).toMatch(/Response verify OK/);
      expect(first.stdout).toMatch(/o1\/gateway\.pem: good/);
      expect(first.stdout).toMatch(/gw1\/gateway\.pem: revoked[\s\S]*Reason: keyCompromise/);

      expect((await ca('revoke', '--pki', pki, '--id', 'site-0300', '--reason', 'cessationOfOperation')).code).toBe(0);
      const second = await ask();
      expect(second.stdout).toMatch(/o1\/gateway\.pem: revoked[\s\S]*Reason: cessationOfOperation/);
    } finally {
      await responder.stop();
    }
  });

  it('staple signs an OCSP response for the console certificate that openssl accepts, valid the hours asked', async () => {
    const cert = join(tmp.dir, 'server', 'server.pem');
    const out = join(tmp.dir, 'staple.der');
    const r = await ca('staple', '--pki', pki, '--cert', cert, '--out', out, '--hours', '6');
    expect(r.code, r.stderr).toBe(0);
    const check = await openssl('ocsp', '-respin', out, '-issuer', join(pki, 'ca.pem'), '-CAfile', join(pki, 'ca.pem'), '-cert', cert, '-resp_text');
    expect(check.stderr).toMatch(/Response verify OK/);
    expect(check.stdout).toMatch(/server\.pem: good/);
    const thisUpdate = Date.parse(/This Update: (.*)/.exec(check.stdout)?.[1] ?? '');
    const nextUpdate = Date.parse(/Next Update: (.*)/.exec(check.stdout)?.[1] ?? '');
    expect(nextUpdate - thisUpdate).toBe(6 * 3_600_000);
    const unknown = await ca('staple', '--pki', pki, '--serial', '0badc0ffee', '--out', join(tmp.dir, 'x.der'));
    expect(unknown.stderr).toMatch(/^lmgw-ca: CA_UNKNOWN_ID: /);
  });

  it('racing commands never lose an issuance or a revocation', async () => {
    const ids = Array.from({ length: 8 }, (_, i) => `race-${i}`);
    const results = await Promise.all([
      ...ids.map((id) => ca('issue-gateway', '--pki', pki, '--id', id, '--out', join(tmp.dir, id))),
      ca('revoke', '--pki', pki, '--id', 'site-0100'),
    ]);
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const list = JSON.parse((await ca('list', '--pki', pki, '--json')).stdout) as { id: string | null; status: string }[];
    for (const id of ids) expect(list.filter((c) => c.id === id && c.status === 'valid')).toHaveLength(1);
    expect(list.find((c) => c.id === 'site-0100')?.status).toBe('revoked');
    const crl = await openssl('crl', '-in', join(pki, 'crl.pem'), '-noout', '-text');
    expect(crl.stdout.match(/Serial Number:/g)?.length).toBe(list.filter((c) => c.status === 'revoked').length);
  });

  describe('bad input: one line naming the problem, non-zero exit, CA database unchanged', () => {
    const state = () => fingerprint(join(pki, 'db.json'), join(pki, 'crl.pem'));
    const cases: { name: string; args: () => string[]; env?: NodeJS.ProcessEnv; code: string; exit?: number }[] = [
      { name: 'wrong passphrase', args: () => ['issue-gateway', '--pki', pki, '--id', 'nope-1', '--out', join(tmp.dir, 'nope-1')], env: { LMGW_CA_PASSPHRASE: 'not the passphrase' }, code: 'CA_BAD_PASSPHRASE' },
      { name: 'no passphrase and no terminal', args: () => ['crl', '--pki', pki], env: { LMGW_CA_PASSPHRASE: '' }, code: 'CA_NO_PASSPHRASE' },
      { name: 'unknown id', args: () => ['revoke', '--pki', pki, '--id', 'no-such-site'], code: 'CA_UNKNOWN_ID' },
      { name: 'unknown serial', args: () => ['revoke', '--pki', pki, '--serial', 'abcdef0123'], code: 'CA_UNKNOWN_ID' },
      { name: 'already revoked', args: () => ['revoke', '--pki', pki, '--id', 'site-0001'], code: 'CA_ALREADY_REVOKED' },
      { name: 'invalid gateway id', args: () => ['issue-gateway', '--pki', pki, '--id', 'Bad Id!', '--out', join(tmp.dir, 'bad')], code: 'CA_BAD_ID' },
      { name: 'malformed CSR', args: () => { writeFileSync(join(tmp.dir, 'garbage.csr'), 'this is not a CSR\n'); return ['sign', '--pki', pki, '--csr', join(tmp.dir, 'garbage.csr'), '--out', join(tmp.dir, 'g.pem')]; }, code: 'CA_BAD_CSR' },
      { name: 'missing CSR file', args: () => ['sign', '--pki', pki, '--csr', join(tmp.dir, 'absent.csr'), '--out', join(tmp.dir, 'g.pem')], code: 'CA_IO' },
      { name: 'bad DNS name', args: () => ['issue-server', '--pki', pki, '--dns', 'bad_name..example', '--out', join(tmp.dir, 'bad-srv')], code: 'CA_BAD_NAME' },
      { name: 'bad IP address', args: () => ['issue-server', '--pki', pki, '--ip', '300.1.1.1', '--out', join(tmp.dir, 'bad-srv2')], code: 'CA_BAD_NAME' },
      { name: 'unknown reason', args: () => ['revoke', '--pki', pki, '--id', 'site-0200', '--reason', 'boredom'], code: 'CA_BAD_REASON' },
      { name: 'missing --pki', args: () => ['list'], code: 'CLI_USAGE', exit: 2 },
      { name: 'unknown option', args: () => ['list', '--pki', pki, '--colour'], code: 'CLI_USAGE', exit: 2 },
      { name: 'unknown command', args: () => ['destroy', '--pki', pki], code: 'CLI_USAGE', exit: 2 },
      { name: 'passphrase as an argument', args: () => ['init', '--pki', pki, '--passphrase', 'x'], code: 'CLI_USAGE', exit: 2 },
      { name: 'bad --days', args: () => ['crl', '--pki', pki, '--days', 'soon'], code: 'CLI_USAGE', exit: 2 },
      { name: 'init over an existing CA', args: () => ['init', '--pki', pki], code: 'CA_ALREADY_INITIALISED' },
      { name: 'output would overwrite a key', args: () => ['issue-gateway', '--pki', pki, '--id', 'site-0400', '--out', join(tmp.dir, 'gw1')], code: 'CA_OUT_EXISTS' },
    ];
    for (const c of cases) {
      it(c.name, async () => {
        const before = state();
        const r = await runBin('lmgw-ca', c.args(), { ...CA_ENV, ...c.env });
        expect(r.code).toBe(c.exit ?? 1);
        expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
        expect(r.stderr).toMatch(new RegExp(`^lmgw-ca: ${c.code}: \\S`));
        expect(state()).toBe(before);
      });
    }

    it('a CSR whose id is not a valid gateway id', async () => {
      const csr = join(tmp.dir, 'bad-id.csr');
      await openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(tmp.dir, 'bad-id.key'), '-subj', '/CN=Site One; DROP', '-out', csr);
      const before = state();
      const r = await ca('sign', '--pki', pki, '--csr', csr, '--out', join(tmp.dir, 'bad-id.pem'));
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`lmgw-ca: CA_BAD_ID: the CSR's id "Site One; DROP" is not a valid gateway id\n`);
      expect(state()).toBe(before);
    });

    it('an uninitialised directory', async () => {
      const r = await ca('list', '--pki', join(tmp.dir, 'empty'));
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^lmgw-ca: CA_NOT_INITIALISED: .*lmgw-ca init/);
    });

    it('a corrupted CA database is reported, not overwritten', async () => {
      const broken = tempDir();
      try {
        const dir = join(broken.dir, 'pki');
        expect((await ca('init', '--pki', dir)).code).toBe(0);
        writeFileSync(join(dir, 'db.json'), '{"format":"lmgw-ca-db","version":1,"caSerial":"zz"');
        const before = fingerprint(join(dir, 'db.json'));
        for (const args of [['list'], ['issue-gateway', '--id', 'x1', '--out', join(broken.dir, 'x1')], ['revoke', '--id', 'x1']]) {
          const r = await ca(...args, '--pki', dir);
          expect(r.code).toBe(1);
          expect(r.stderr).toMatch(/^lmgw-ca: CA_CORRUPT: the CA database .* is not valid JSON/);
        }
        expect(fingerprint(join(dir, 'db.json'))).toBe(before);
      } finally {
        broken.cleanup();
      }
    });
  });
});
