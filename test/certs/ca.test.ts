import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listCertificates, normalizeSerial, type CertificateAuthority } from '../../certs/ca.js';
import { createGatewayCsr } from '../../certs/csr.js';
import { withLockFile } from '../../certs/lock.js';
import { EKU, randomSerial } from '../../certs/profiles.js';
import { LmgwError } from '../../shared/errors.js';
import { aCa } from '../helpers/pki.js';
import { run, tempDir } from '../helpers/processes.js';

const tmp = tempDir();
let ca: CertificateAuthority;
let otherCa: CertificateAuthority;
const DAY = 86_400_000;

function write(name: string, text: string): string {
  const path = join(tmp.dir, name);
  writeFileSync(path, text);
  return path;
}

async function opensslVerify(certPem: string, trust: CertificateAuthority, purpose = 'sslclient') {
  const r = await run('openssl', ['verify', '-CAfile', write('trust.pem', trust.certificatePem), '-purpose', purpose, write('subject.pem', certPem)]);
  return { ok: r.code === 0, text: r.stdout + r.stderr };
}

beforeAll(async () => {
  ca = await aCa(tmp.dir, 'pki');
  otherCa = await aCa(tmp.dir, 'other', 'Someone Else CA');
});
afterAll(() => tmp.cleanup());

describe('the bad-certificate matrix for the link tests, built with certs/ and judged by openssl', () => {
  it('a valid gateway certificate verifies', async () => {
    const good = await ca.issueGateway({ id: 'matrix-good' });
    expect((await opensslVerify(good.certPem, ca)).ok).toBe(true);
  });

  it('expired', async () => {
    const cert = await ca.issueCustom({ kind: 'gateway', commonName: 'matrix-expired', notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) });
    const r = await opensslVerify(cert.certPem, ca);
    expect(r.ok).toBe(false);
    expect(r.text).toMatch(/certificate has expired/);
  });

  it('not yet valid', async () => {
    const cert = await ca.issueCustom({ kind: 'gateway', commonName: 'matrix-future', notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 10 * DAY) });
    const r = await opensslVerify(cert.certPem, ca);
    expect(r.ok).toBe(false);
    expect(r.text).toMatch(/certificate is not yet valid/);
  });

  it('wrong extended key usage', async () => {
    const cert = await ca.issueCustom({ kind: 'gateway', commonName: 'matrix-eku', extendedKeyUsages: [EKU.serverAuth] });
    const r = await opensslVerify(cert.certPem, ca);
    expect(r.ok).toBe(false);
    expect(r.text).toMatch(/unsuitable certificate purpose/);
  });

  it('from another CA', async () => {
    const cert = await otherCa.issueGateway({ id: 'matrix-other' });
    const r = await opensslVerify(cert.certPem, ca);
    expect(r.ok).toBe(false);
    expect(r.text).toMatch(/unable to get local issuer certificate/);
  });
});

describe('enrolment: key and CSR made on the gateway, signed by the CA', () => {
  it('signs our own CSR and keeps the id', async () => {
    const { keyPem, csrPem } = await createGatewayCsr('site-enrolled');
    expect(keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const issued = await ca.signGatewayCsr(csrPem);
    expect(issued.keyPem).toBeUndefined();
    expect(issued.record.id).toBe('site-enrolled');
    expect(issued.record.sans).toEqual(['url:urn:lmgw:gateway:site-enrolled']);
    expect((await opensslVerify(issued.certPem, ca)).ok).toBe(true);
    // The certificate carries the CSR's key.
    const fromKey = await run('openssl', ['pkey', '-in', write('enrolled.key', keyPem), '-pubout']);
    const fromCert = await run('openssl', ['x509', '-in', write('enrolled.pem', issued.certPem), '-noout', '-pubkey']);
    expect(fromCert.stdout).toBe(fromKey.stdout);
  });

  it('refuses a CSR whose signature was tampered with', async () => {
    const { csrPem } = await createGatewayCsr('site-tampered');
    const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[der.length - 5] = (der[der.length - 5] ?? 0) ^ 0xff;
    await expect(ca.signGatewayCsr(new Uint8Array(der))).rejects.toMatchObject({ code: 'CA_BAD_CSR' });
  });

  it('refuses to make a CSR for an invalid id', async () => {
    await expect(createGatewayCsr('Not Valid')).rejects.toMatchObject({ code: 'CA_BAD_ID' });
  });
});

describe('OCSP stapling material', () => {
  it('the response for the hub certificate verifies with openssl and says good, then revoked', async () => {
    const server = await ca.issueServer({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    const check = async () => {
      const respin = join(tmp.dir, 'staple.der');
      writeFileSync(respin, ca.stapledOcspResponse(server.record.serial));
      return run('openssl', ['ocsp', '-respin', respin, '-issuer', write('ca-o.pem', ca.certificatePem), '-CAfile', join(tmp.dir, 'ca-o.pem'), '-cert', write('srv-o.pem', server.certPem)]);
    };
    const good = await check();
    expect(good.stderr).toMatch(/Response verify OK/);
    expect(good.stdout).toMatch(/srv-o\.pem: good/);
    await ca.revoke({ serial: server.record.serial }, 'keyCompromise');
    const revoked = await check();
    expect(revoked.stdout).toMatch(/srv-o\.pem: revoked/);
  });
});

describe('serials and the lock', () => {
  it('serials are random, positive and at least 64 bits', () => {
    const serials = Array.from({ length: 200 }, () => randomSerial());
    expect(new Set(serials).size).toBe(200);
    for (const s of serials) {
      expect(s).toMatch(/^[0-7][0-9a-f]{31}$/);
      expect(s.startsWith('00')).toBe(false);
    }
  });

  it('serials typed by an operator match the stored form, leading zero octet included', () => {
    expect(normalizeSerial('0E42C6001275F3C25F17CCDE4AD64D42')).toBe('0e42c6001275f3c25f17ccde4ad64d42');
    expect(normalizeSerial('0e:42:c6')).toBe('0e42c6');
    expect(normalizeSerial('e42c6')).toBe('0e42c6');
    expect(normalizeSerial('00:8f:01')).toBe('8f01');
  });

  it('a lock left by a dead process is broken; a live holder makes others wait and then fail with CA_LOCKED', async () => {
    const lock = join(tmp.dir, 'test.lock');
    writeFileSync(lock, JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname(), since: '2026-01-01' }));
    await expect(withLockFile(lock, () => Promise.resolve('ran'))).resolves.toBe('ran');

    const order: string[] = [];
    const holder = withLockFile(lock, async () => {
      order.push('holder');
      await expect(withLockFile(lock, () => Promise.resolve('never'), { timeoutMs: 200 })).rejects.toSatisfy(
        (e: unknown) => e instanceof LmgwError && e.code === 'CA_LOCKED',
      );
      order.push('holder done');
    });
    await holder;
    expect(order).toEqual(['holder', 'holder done']);
  });
});

describe('issueGateways (a batch)', () => {
  const tmp = tempDir('lmgw-ca-batch-');
  afterAll(() => tmp.cleanup());

  it('issues every id with one database write, refuses an id with a valid certificate unless renewing, and a refused batch changes nothing', async () => {
    const ca = await aCa(tmp.dir, 'batch');
    const issued = await ca.issueGateways(['b-1', 'b-2', 'b-3']);
    expect(issued.map((i) => i.record.id)).toEqual(['b-1', 'b-2', 'b-3']);
    expect(issued.every((i) => i.keyPem?.includes('PRIVATE KEY') && i.certPem.includes('CERTIFICATE'))).toBe(true);
    expect(listCertificates(join(tmp.dir, 'batch')).filter((c) => c.kind === 'gateway').map((c) => c.id)).toEqual(['b-1', 'b-2', 'b-3']);
    await expect(ca.issueGateways(['b-4', 'b-2'])).rejects.toMatchObject({ code: 'CA_ID_EXISTS' });
    expect(listCertificates(join(tmp.dir, 'batch')).filter((c) => c.kind === 'gateway').map((c) => c.id)).toEqual(['b-1', 'b-2', 'b-3']);
    await expect(ca.issueGateways(['b-5', 'b-5'])).rejects.toMatchObject({ code: 'CA_BAD_ID' });
    const renewed = await ca.issueGateways(['b-2'], { renew: true });
    const b2 = listCertificates(join(tmp.dir, 'batch')).filter((c) => c.id === 'b-2');
    expect(b2.map((c) => [c.serial === renewed[0]?.record.serial, c.status])).toEqual([
      [false, 'revoked'],
      [true, 'valid'],
    ]);
  });
});
