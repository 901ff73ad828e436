import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { LmgwError } from '../shared/errors.js';
import { gatewayUri, isGatewayId } from '../shared/ids.js';
import { SIGNING_ALGORITHM } from './keys.js';
import { x509 } from './x509.js';

export type CertificateKind = 'ca' | 'server' | 'gateway';

export const EKU = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  ocspSigning: '1.3.6.1.5.5.7.3.9',
} as const;

const DAY_MS = 86_400_000;

/** Default lifetimes in days. Server: the CA/Browser forum's 397 days; gateways live longer in the field. */
export const DEFAULT_DAYS: Record<CertificateKind, number> = { ca: 3650, server: 397, gateway: 825 };

/** Who signs: the CA's certificate and key, or nobody (a self-signed root). */
export interface Issuer {
  certificate: x509.X509Certificate;
  key: CryptoKey;
}

export interface CertificateRequest {
  kind: CertificateKind;
  /** Subject common name. For a gateway it is the gateway id. */
  commonName: string;
  /** Subject organisation (optional). */
  organization?: string;
  publicKey: CryptoKey;
  /** Absent for the self-signed root: then `selfSignKey` signs. */
  issuer?: Issuer;
  selfSignKey?: CryptoKey;
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
  gatewayId?: string;
  days?: number;
  /**
   * Tests only: explicit validity and usages, to build the bad-certificate matrix (expired, not yet
   * valid, wrong EKU). The CLI never sets these.
   */
  notBefore?: Date;
  notAfter?: Date;
  extendedKeyUsages?: readonly string[];
}

/**
 * A random, positive serial of 128 bits (RFC 5280 allows up to 20 octets; CA/B forum asks for ≥ 64
 * bits of entropy). The first octet is kept in 0x01..0x7f so the DER INTEGER is positive and has no
 * leading zero to trim, and the hex form is stable.
 */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) % 0x7f) + 1;
  return bytes.toString('hex');
}

const DNS_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/i;

export function assertDnsName(name: string): void {
  const labels = name.split('.');
  const ok = name.length <= 253 && labels.every((l, i) => DNS_LABEL.test(l) || (i === 0 && l === '*' && labels.length > 2));
  if (!ok) throw new LmgwError('CA_BAD_NAME', `"${name}" is not a valid DNS name`);
}

export function assertIpAddress(ip: string): void {
  if (isIP(ip) === 0) throw new LmgwError('CA_BAD_NAME', `"${ip}" is not a valid IPv4 or IPv6 address`);
}

/** Escapes a value for an RFC 4514 distinguished name string. */
function dnValue(value: string): string {
  return value.replace(/[\\,+"<>;=]/g, (c) => `\\${c}`).replace(/^[ #]|[ ]$/g, (c) => `\\${c}`);
}

export async function createCertificate(req: CertificateRequest): Promise<x509.X509Certificate> {
  const now = Date.now();
  const notBefore = req.notBefore ?? new Date(now - 5 * 60_000); // tolerate small clock skew
  const notAfter = req.notAfter ?? new Date(now + (req.days ?? DEFAULT_DAYS[req.kind]) * DAY_MS);
  const subject = `CN=${dnValue(req.commonName)}${req.organization ? `, O=${dnValue(req.organization)}` : ''}`;

  const extensions: x509.Extension[] = [await x509.SubjectKeyIdentifierExtension.create(req.publicKey)];
  if (req.issuer) {
    extensions.push(await x509.AuthorityKeyIdentifierExtension.create(req.issuer.certificate.publicKey));
  }
  switch (req.kind) {
    case 'ca':
      extensions.push(
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
          true,
        ),
      );
      break;
    case 'server': {
      const names = [...(req.dnsNames ?? [])];
      names.forEach(assertDnsName);
      (req.ipAddresses ?? []).forEach(assertIpAddress);
      if (names.length === 0 && (req.ipAddresses ?? []).length === 0) {
        throw new LmgwError('CA_BAD_NAME', 'a server certificate needs at least one --dns name or --ip address');
      }
      extensions.push(
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([...(req.extendedKeyUsages ?? [EKU.serverAuth])], false),
        new x509.SubjectAlternativeNameExtension([
          ...names.map((value) => ({ type: 'dns' as const, value })),
          ...(req.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
        ]),
      );
      break;
    }
    case 'gateway': {
      const id = req.gatewayId ?? req.commonName;
      if (!isGatewayId(id)) throw new LmgwError('CA_BAD_ID', `"${id}" is not a valid gateway id`);
      extensions.push(
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([...(req.extendedKeyUsages ?? [EKU.clientAuth])], false),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: gatewayUri(id) }]),
      );
      break;
    }
  }

  const common = { serialNumber: randomSerial(), notBefore, notAfter, extensions, signingAlgorithm: SIGNING_ALGORITHM };
  if (req.issuer) {
    return x509.X509CertificateGenerator.create({
      ...common,
      subject,
      issuer: req.issuer.certificate.subject,
      publicKey: req.publicKey,
      signingKey: req.issuer.key,
    });
  }
  if (!req.selfSignKey) throw new LmgwError('CA_CORRUPT', 'a self-signed certificate needs its own private key');
  return x509.X509CertificateGenerator.createSelfSigned({
    ...common,
    name: subject,
    keys: { publicKey: req.publicKey, privateKey: req.selfSignKey },
  });
}
