import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../../../certs/keys.js';
import { createCertificate, EKU, type CertificateRequest, type Issuer } from '../../../../certs/profiles.js';
import { gatewayIdOf, judgePeer } from '../../../../console/hub/link/peer-certificate.js';

let issuer: Issuer;

async function aCertificate(over: Partial<CertificateRequest> & Pick<CertificateRequest, 'kind' | 'commonName'>): Promise<X509Certificate> {
  const keys = await generateKeyPair();
  const cert = await createCertificate({ publicKey: keys.crypto.publicKey, issuer, ...over });
  return new X509Certificate(cert.toString('pem'));
}

/** What judgePeer reads of a TLS socket that completed its handshake. */
function aSocket(cert: X509Certificate | undefined, authorizationError?: string): TLSSocket {
  return {
    getPeerX509Certificate: () => cert,
    authorized: authorizationError === undefined,
    authorizationError,
  } as unknown as TLSSocket;
}

beforeAll(async () => {
  const keys = await generateKeyPair();
  const certificate = await createCertificate({
    kind: 'ca',
    commonName: 'Test CA',
    organization: 'DSO, Inc.',
    publicKey: keys.crypto.publicKey,
    selfSignKey: keys.crypto.privateKey,
  });
  issuer = { certificate, key: keys.crypto.privateKey };
});

describe('judgePeer', () => {
  it('accepts a gateway certificate and keeps what the fleet view shows of it (no fingerprint)', async () => {
    const cert = await aCertificate({ kind: 'gateway', commonName: 'site-0001', gatewayId: 'site-0001' });
    const verdict = judgePeer(aSocket(cert));
    expect(verdict).toEqual({
      ok: true,
      gatewayId: 'site-0001',
      peer: {
        subject: 'CN=site-0001',
        // One line per attribute, joined; the comma inside the value stays escaped (RFC 2253).
        issuer: 'CN=Test CA, O=DSO\\, Inc.',
        serial: cert.serialNumber.toLowerCase().replace(/^(00)+(?=[0-9a-f]{2})/, ''),
        notAfter: new Date(cert.validTo).toISOString(),
      },
    });
  });

  it('refuses no certificate, an unverified one, and one not for client authentication, each with its code', async () => {
    expect(judgePeer(aSocket(undefined))).toMatchObject({ ok: false, code: 'LINK_NO_CERT', status: 401 });
    const gateway = await aCertificate({ kind: 'gateway', commonName: 'site-0002' });
    expect(judgePeer(aSocket(gateway, 'CERT_HAS_EXPIRED'))).toMatchObject({
      ok: false,
      code: 'LINK_CERT_EXPIRED',
      status: 403,
      peer: { subject: 'CN=site-0002', fingerprint256: gateway.fingerprint256 },
    });
    expect(judgePeer(aSocket(gateway, 'SOMETHING_NEW'))).toMatchObject({ ok: false, code: 'LINK_BAD_CERT' });
    const server = await aCertificate({ kind: 'server', commonName: 'site-0003', dnsNames: ['localhost'] });
    expect(judgePeer(aSocket(server))).toMatchObject({ ok: false, code: 'LINK_WRONG_USAGE' });
  });
});

describe('gatewayIdOf', () => {
  it('reads the gateway URI, else a single CN that is a gateway id', async () => {
    expect(gatewayIdOf(await aCertificate({ kind: 'gateway', commonName: 'ignored-cn', gatewayId: 'gw-uri' }))).toBe('gw-uri');
    const byName = await aCertificate({ kind: 'server', commonName: 'gw-cn', dnsNames: ['localhost'], extendedKeyUsages: [EKU.clientAuth] });
    expect(gatewayIdOf(byName)).toBe('gw-cn');
    const notAnId = await aCertificate({ kind: 'server', commonName: 'Not A Gateway', dnsNames: ['localhost'] });
    expect(gatewayIdOf(notAnId)).toBeUndefined();
  });
});
