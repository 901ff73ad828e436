import { existsSync, readFileSync } from 'node:fs';
import { LmgwError } from '../shared/errors.js';
import { writeFileAtomic } from './atomic-file.js';
import type { CertificateKind } from './profiles.js';

/** RFC 5280 CRLReason names accepted by `revoke --reason`. */
export const REVOCATION_REASONS = [
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'privilegeWithdrawn',
] as const;
export type RevocationReason = (typeof REVOCATION_REASONS)[number];

export function isRevocationReason(value: string): value is RevocationReason {
  return (REVOCATION_REASONS as readonly string[]).includes(value);
}

export interface CertRecord {
  /** Lower-case hex, as in `openssl x509 -serial` (which prints upper case). */
  serial: string;
  kind: CertificateKind;
  /** Gateway id for gateway certificates; null otherwise. */
  id: string | null;
  subject: string;
  /** DNS names, IP addresses or the gateway URI. */
  sans: string[];
  notBefore: string;
  notAfter: string;
  issuedAt: string;
  /** File name under issued/ holding the certificate PEM. */
  file: string;
  revokedAt?: string;
  reason?: RevocationReason;
}

export interface CaDatabase {
  format: 'lmgw-ca-db';
  version: 1;
  caSerial: string;
  /** Monotonic CRL number (RFC 5280 §5.2.3); the last one written. */
  crlNumber: number;
  certificates: CertRecord[];
}

export type CertStatus = 'valid' | 'revoked' | 'expired';

export function statusOf(record: CertRecord, now = new Date()): CertStatus {
  if (record.revokedAt) return 'revoked';
  return new Date(record.notAfter) < now ? 'expired' : 'valid';
}

export function emptyDatabase(caSerial: string): CaDatabase {
  return { format: 'lmgw-ca-db', version: 1, caSerial, crlNumber: 0, certificates: [] };
}

export function readDatabase(path: string): CaDatabase {
  if (!existsSync(path)) throw new LmgwError('CA_NOT_INITIALISED', `no CA database at ${path} (run \`lmgw-ca init\`)`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new LmgwError('CA_CORRUPT', `the CA database ${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  return validateDatabase(parsed, path);
}

export function writeDatabase(path: string, db: CaDatabase): void {
  writeFileAtomic(path, `${JSON.stringify(db, null, 2)}\n`, 0o600);
}

const HEX = /^[0-9a-f]{2,40}$/;

function validateDatabase(value: unknown, path: string): CaDatabase {
  const fail = (what: string): never => {
    throw new LmgwError('CA_CORRUPT', `the CA database ${path} is corrupt: ${what}`);
  };
  if (!isObject(value) || value.format !== 'lmgw-ca-db') return fail('not an LMGW CA database');
  if (value.version !== 1) return fail(`unsupported version ${String(value.version)}`);
  if (typeof value.caSerial !== 'string' || !HEX.test(value.caSerial)) return fail('caSerial is missing or not hex');
  if (typeof value.crlNumber !== 'number' || !Number.isSafeInteger(value.crlNumber) || value.crlNumber < 0) {
    return fail('crlNumber is not a non-negative integer');
  }
  if (!Array.isArray(value.certificates)) return fail('certificates is not a list');
  const seen = new Set<string>();
  const certificates = value.certificates.map((c: unknown, i): CertRecord => {
    const at = `certificates[${i}]`;
    if (!isObject(c)) return fail(`${at} is not an object`);
    const str = (k: string): string => (typeof c[k] === 'string' ? c[k] : fail(`${at}.${k} is missing`));
    const serial = str('serial');
    if (!HEX.test(serial)) fail(`${at}.serial is not hex`);
    if (seen.has(serial)) fail(`${at}.serial ${serial} appears twice`);
    seen.add(serial);
    const kind = str('kind');
    if (kind !== 'ca' && kind !== 'server' && kind !== 'gateway') fail(`${at}.kind "${kind}" is unknown`);
    const dates = ['notBefore', 'notAfter', 'issuedAt'].map((k) => {
      const d = str(k);
      if (Number.isNaN(Date.parse(d))) fail(`${at}.${k} is not a date`);
      return d;
    });
    const sans = Array.isArray(c.sans) && c.sans.every((s) => typeof s === 'string') ? c.sans : fail(`${at}.sans is not a list of strings`);
    const record: CertRecord = {
      serial,
      kind: kind as CertificateKind,
      id: c.id === null ? null : str('id'),
      subject: str('subject'),
      sans,
      notBefore: dates[0] ?? '',
      notAfter: dates[1] ?? '',
      issuedAt: dates[2] ?? '',
      file: str('file'),
    };
    if (c.revokedAt !== undefined) {
      record.revokedAt = str('revokedAt');
      const reason = str('reason');
      if (!isRevocationReason(reason)) fail(`${at}.reason "${reason}" is unknown`);
      record.reason = reason as RevocationReason;
    }
    return record;
  });
  return { format: 'lmgw-ca-db', version: 1, caSerial: value.caSerial, crlNumber: value.crlNumber, certificates };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
