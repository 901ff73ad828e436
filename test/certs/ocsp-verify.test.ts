import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertificateAuthority } from '../../certs/ca.js';
import { readDatabase } from '../../certs/ca-db.js';
import { createStapledResponse, verifyOcspResponse } from '../../certs/ocsp.js';
import { aCa } from '../helpers/pki.js';
import { tempDir } from '../helpers/processes.js';

// The agent's check of the console's stapled OCSP response (certs/ocsp.ts verifyOcspResponse),
// against responses made by our own CA and copies of them that an attacker changed.

const tmp = tempDir();
let ca: CertificateAuthority;
let other: CertificateAuthority;
let serial: string;
const HOUR = 3_600_000;

beforeAll(async () => {
  ca = await aCa(tmp.dir, 'pki');
  other = await aCa(tmp.dir, 'other', 'Other CA');
  serial = (await ca.issueServer({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] })).record.serial;
});
afterAll(() => tmp.cleanup());

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe('verifyOcspResponse', () => {
  it('accepts the CA-signed staple and reports good with its validity window', () => {
    const now = new Date();
    const result = verifyOcspResponse(ca.stapledOcspResponse(serial, now, HOUR), ca.certificatePem, serial, now);
    expect(result.status).toBe('good');
    expect(result.nextUpdate.getTime() - result.thisUpdate.getTime()).toBe(HOUR);
  });

  it('accepts the serial as openssl prints it (upper case, colons)', () => {
    const upper = serial.toUpperCase().match(/../g)?.join(':') ?? '';
    expect(verifyOcspResponse(ca.stapledOcspResponse(serial), ca.certificatePem, upper).status).toBe('good');
  });

  it('refuses a tampered copy: one flipped bit inside the signed data', () => {
    const der = ca.stapledOcspResponse(serial);
    // The serial sits inside tbsResponseData; flip a bit of its last octet.
    const at = Buffer.from(der).lastIndexOf(Buffer.from(serial.slice(-8), 'hex'));
    expect(at).toBeGreaterThan(0);
    const tampered = Uint8Array.from(der);
    tampered[at + 3] = (tampered[at + 3] ?? 0) ^ 0x01;
    expect(codeOf(() => verifyOcspResponse(tampered, ca.certificatePem, serial))).toBe('LINK_OCSP_STAPLE');
  });

  it('refuses a response signed by another CA, even for the same serial', () => {
    // The other CA never issued this serial, so its library refuses to answer for it; sign one anyway.
    const forged = createStapledResponse(other.ocspSigner(), readDatabase(other.paths.db), serial);
    expect(codeOf(() => verifyOcspResponse(forged, ca.certificatePem, serial))).toBe('LINK_OCSP_STAPLE');
  });

  it('refuses a valid response about another certificate', async () => {
    const another = (await ca.issueServer({ dnsNames: ['other.example'] })).record.serial;
    expect(codeOf(() => verifyOcspResponse(ca.stapledOcspResponse(another), ca.certificatePem, serial))).toBe('LINK_OCSP_STAPLE');
  });

  it('refuses a stale response and one from the future, tolerating small clock skew', () => {
    const made = new Date('2030-01-01T00:00:00Z');
    const der = ca.stapledOcspResponse(serial, made, HOUR);
    expect(verifyOcspResponse(der, ca.certificatePem, serial, new Date(made.getTime() + HOUR + 60_000)).status).toBe('good');
    expect(codeOf(() => verifyOcspResponse(der, ca.certificatePem, serial, new Date(made.getTime() + 2 * HOUR)))).toBe('LINK_OCSP_STAPLE');
    expect(verifyOcspResponse(der, ca.certificatePem, serial, new Date(made.getTime() - 60_000)).status).toBe('good');
    expect(codeOf(() => verifyOcspResponse(der, ca.certificatePem, serial, new Date(made.getTime() - HOUR)))).toBe('LINK_OCSP_STAPLE');
  });

  it('refuses garbage and truncated input with LINK_OCSP_STAPLE, never another exception', () => {
    const der = ca.stapledOcspResponse(serial);
    for (const bad of [new Uint8Array(0), Uint8Array.from([0x30, 0x03, 0x0a, 0x01, 0x01]), der.subarray(0, der.length - 10), Uint8Array.from([1, 2, 3])]) {
      expect(codeOf(() => verifyOcspResponse(bad, ca.certificatePem, serial))).toBe('LINK_OCSP_STAPLE');
    }
  });

  it('reports revoked once the CA revoked the certificate', async () => {
    const victim = (await ca.issueServer({ dnsNames: ['revoked.example'] })).record.serial;
    await ca.revoke({ serial: victim }, 'keyCompromise');
    const result = verifyOcspResponse(ca.stapledOcspResponse(victim), ca.certificatePem, victim);
    expect(result.status).toBe('revoked');
    expect(result.revocationTime).toBeInstanceOf(Date);
  });
});
