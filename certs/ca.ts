import { createPublicKey, type KeyObject } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { LmgwError } from '../shared/errors.js';
import { isGatewayId } from '../shared/ids.js';
import { writeFileAtomic } from './atomic-file.js';
import {
  emptyDatabase,
  readDatabase,
  statusOf,
  writeDatabase,
  type CaDatabase,
  type CertRecord,
  type CertStatus,
  type RevocationReason,
} from './ca-db.js';
import { createCrl, crlToPem, DEFAULT_CRL_DAYS } from './crl.js';
import { verifyGatewayCsr } from './csr.js';
import { exportEncryptedKey, exportPlainKey, generateKeyPair, importEncryptedKey, toCryptoKeyPair } from './keys.js';
import { withLockFile } from './lock.js';
import { createStapledResponse, type OcspSigner } from './ocsp.js';
import { pkiPaths, type PkiPaths } from './pki-dir.js';
import { createCertificate, type CertificateKind, type CertificateRequest, type Issuer } from './profiles.js';
import { x509 } from './x509.js';

export const MIN_PASSPHRASE_LENGTH = 12;

export interface Issued {
  record: CertRecord;
  certPem: string;
  /** Present when the CA made the key (issue-server, issue-gateway); absent for a signed CSR. */
  keyPem?: string;
}

export interface ListedCertificate extends CertRecord {
  status: CertStatus;
}

/** Reads the certificate list without the passphrase (`lmgw-ca list`). */
export function listCertificates(dir: string, now = new Date()): ListedCertificate[] {
  const db = readDatabase(pkiPaths(dir).db);
  return db.certificates.map((c) => ({ ...c, status: statusOf(c, now) }));
}

/** Creates a new CA in `dir`: key (encrypted), self-signed root, empty database, first CRL. */
export async function initCa(dir: string, passphrase: string, name = 'LMGW Root CA'): Promise<CertRecord> {
  const paths = pkiPaths(dir);
  if (passphrase.length < MIN_PASSPHRASE_LENGTH) {
    throw new LmgwError('CA_WEAK_PASSPHRASE', `the CA passphrase must have at least ${MIN_PASSPHRASE_LENGTH} characters`);
  }
  if (!name.trim() || name.length > 64) throw new LmgwError('CLI_USAGE', '--name must be 1–64 characters');
  if (existsSync(paths.caCert) || existsSync(paths.db) || existsSync(paths.caKey)) {
    throw new LmgwError('CA_ALREADY_INITIALISED', `${dir} already holds a CA; refusing to overwrite it`);
  }
  mkdirSync(paths.issued, { recursive: true, mode: 0o700 });
  return withLockFile(paths.lock, async () => {
    const keys = await generateKeyPair();
    const cert = await createCertificate({
      kind: 'ca',
      commonName: name,
      publicKey: keys.crypto.publicKey,
      selfSignKey: keys.crypto.privateKey,
    });
    writeExclusive(paths.caKey, exportEncryptedKey(keys.privateKey, passphrase), 0o600);
    writeFileAtomic(paths.caCert, cert.toString('pem'));
    const db = emptyDatabase(cert.serialNumber.toLowerCase());
    const record = recordOf(cert, 'ca', null, 'ca.pem');
    db.certificates.push(record);
    db.crlNumber = 1;
    writeDatabase(paths.db, db);
    const ca = { certificate: cert, key: keys.crypto.privateKey };
    writeFileAtomic(paths.crl, crlToPem(await createCrl(ca, db, db.crlNumber)));
    return record;
  });
}

/**
 * An opened CA: its certificate and decrypted key in memory. Every change to the database happens
 * under the directory's lock and is written atomically, so racing commands never lose an issuance
 * or a revocation.
 */
export class CertificateAuthority {
  private constructor(
    readonly paths: PkiPaths,
    readonly certificate: x509.X509Certificate,
    private readonly keyObject: KeyObject,
    private readonly issuer: Issuer,
  ) {}

  static async open(dir: string, passphrase: string): Promise<CertificateAuthority> {
    const paths = pkiPaths(dir);
    if (!existsSync(paths.db) && !existsSync(paths.caCert)) {
      throw new LmgwError('CA_NOT_INITIALISED', `${dir} holds no CA (run \`lmgw-ca init --pki ${dir}\`)`);
    }
    const db = readDatabase(paths.db);
    const certificate = readCertificate(paths.caCert, 'the CA certificate');
    if (certificate.serialNumber.toLowerCase() !== db.caSerial) {
      throw new LmgwError('CA_CORRUPT', `the CA certificate ${paths.caCert} does not match the database ${paths.db}`);
    }
    const keyPem = readText(paths.caKey, 'the CA key');
    const keyObject = importEncryptedKey(keyPem, passphrase);
    const publicDer = createPublicKey(keyObject).export({ type: 'spki', format: 'der' });
    if (!Buffer.from(certificate.publicKey.rawData).equals(publicDer)) {
      throw new LmgwError('CA_CORRUPT', `the CA key ${paths.caKey} does not belong to the CA certificate`);
    }
    const crypto = await toCryptoKeyPair(keyObject);
    return new CertificateAuthority(paths, certificate, keyObject, { certificate, key: crypto.privateKey });
  }

  get certificatePem(): string {
    return this.certificate.toString('pem');
  }

  /** The console's TLS server certificate (serverAuth, SANs) and a new key. */
  async issueServer(opts: { dnsNames: readonly string[]; ipAddresses?: readonly string[]; days?: number }): Promise<Issued> {
    const keys = await generateKeyPair();
    const commonName = opts.dnsNames[0] ?? opts.ipAddresses?.[0] ?? '';
    const record = await this.issue(
      {
        kind: 'server',
        commonName,
        publicKey: keys.crypto.publicKey,
        dnsNames: opts.dnsNames,
        ipAddresses: opts.ipAddresses ?? [],
        ...(opts.days === undefined ? {} : { days: opts.days }),
      },
      false,
    );
    return { ...record, keyPem: exportPlainKey(keys.privateKey) };
  }

  /** Convenience path: the CA makes the gateway's key. The proper path is `signGatewayCsr`. */
  async issueGateway(opts: { id: string; days?: number; renew?: boolean }): Promise<Issued> {
    if (!isGatewayId(opts.id)) throw new LmgwError('CA_BAD_ID', `"${opts.id}" is not a valid gateway id`);
    const keys = await generateKeyPair();
    const record = await this.issue(
      {
        kind: 'gateway',
        commonName: opts.id,
        gatewayId: opts.id,
        publicKey: keys.crypto.publicKey,
        ...(opts.days === undefined ? {} : { days: opts.days }),
      },
      opts.renew ?? false,
    );
    return { ...record, keyPem: exportPlainKey(keys.privateKey) };
  }

  /**
   * Many gateways at once, the CA making each key (a lab, a simulated fleet, a bulk roll-out): one
   * read and one write of the database for the whole batch instead of one per certificate, which for
   * 20,000 gateways is the difference between seconds and an hour (the database is rewritten whole).
   * Same rules as issueGateway; a batch that fails leaves the database as it was.
   */
  async issueGateways(ids: readonly string[], opts: { days?: number; renew?: boolean } = {}): Promise<Issued[]> {
    for (const id of ids) if (!isGatewayId(id)) throw new LmgwError('CA_BAD_ID', `"${id}" is not a valid gateway id`);
    if (new Set(ids).size !== ids.length) throw new LmgwError('CA_BAD_ID', 'the batch names a gateway id twice');
    return this.mutate(async (db) => {
      const valid = new Map<string, CertRecord[]>();
      for (const c of db.certificates) {
        if (c.kind !== 'gateway' || c.id === null || statusOf(c) !== 'valid') continue;
        valid.set(c.id, [...(valid.get(c.id) ?? []), c]);
      }
      const now = new Date().toISOString();
      let superseded = false;
      const issued: Issued[] = [];
      for (const id of ids) {
        const current = valid.get(id) ?? [];
        if (current.length > 0 && opts.renew !== true) {
          throw new LmgwError('CA_ID_EXISTS', `gateway "${id}" already has a valid certificate (serial ${current[0]?.serial}); use --renew to supersede it`);
        }
        for (const old of current) {
          old.revokedAt = now;
          old.reason = 'superseded';
          superseded = true;
        }
        const keys = await generateKeyPair();
        const cert = await createCertificate({
          kind: 'gateway',
          commonName: id,
          gatewayId: id,
          publicKey: keys.crypto.publicKey,
          ...(opts.days === undefined ? {} : { days: opts.days }),
          issuer: this.issuer,
        });
        const serial = cert.serialNumber.toLowerCase();
        const file = join('issued', `${serial}.pem`);
        const certPem = cert.toString('pem');
        writeFileAtomic(join(this.paths.dir, file), certPem);
        const record = recordOf(cert, 'gateway', id, file);
        db.certificates.push(record);
        issued.push({ record, certPem, keyPem: exportPlainKey(keys.privateKey) });
      }
      return { result: issued, crl: superseded };
    });
  }

  /** Signs a gateway's own CSR: the key never left the gateway. */
  async signGatewayCsr(csr: string | Uint8Array, opts: { days?: number; renew?: boolean } = {}): Promise<Issued> {
    const verified = await verifyGatewayCsr(csr);
    return this.issue(
      {
        kind: 'gateway',
        commonName: verified.gatewayId,
        gatewayId: verified.gatewayId,
        publicKey: verified.publicKey,
        ...(opts.days === undefined ? {} : { days: opts.days }),
      },
      opts.renew ?? false,
    );
  }

  /**
   * Any certificate under this CA with chosen dates and usages, recorded in the database like the
   * others (so it can be revoked). For tests that need the bad-certificate matrix; the CLI never
   * calls it.
   */
  async issueCustom(req: Omit<CertificateRequest, 'issuer' | 'selfSignKey' | 'publicKey'>): Promise<Issued> {
    const keys = await generateKeyPair();
    const issued = await this.issue({ ...req, publicKey: keys.crypto.publicKey }, true, false);
    return { ...issued, keyPem: exportPlainKey(keys.privateKey) };
  }

  /** Revokes by gateway id (its current certificate) or by serial, and writes a fresh CRL at once. */
  async revoke(target: { id: string } | { serial: string }, reason: RevocationReason = 'unspecified'): Promise<CertRecord> {
    return this.mutate((db) => {
      const record = findTarget(db, target);
      if (record.kind === 'ca') throw new LmgwError('CA_UNKNOWN_ID', 'the CA cannot revoke its own root certificate');
      if (record.revokedAt) {
        throw new LmgwError('CA_ALREADY_REVOKED', `certificate ${record.serial} was already revoked on ${record.revokedAt} (${record.reason ?? 'unspecified'})`);
      }
      record.revokedAt = new Date().toISOString();
      record.reason = reason;
      return Promise.resolve({ result: { ...record }, crl: true });
    });
  }

  /** Writes a fresh CRL (crl.pem in the CA directory) and returns its PEM. */
  async writeCrl(days = DEFAULT_CRL_DAYS): Promise<string> {
    if (!Number.isInteger(days) || days < 1 || days > 366) throw new LmgwError('CLI_USAGE', '--days for a CRL must be 1–366');
    await this.mutate(() => Promise.resolve({ result: undefined, crl: true, crlDays: days }));
    return readFileSync(this.paths.crl, 'utf8');
  }

  /** The OCSP signer (CA-signed responses) and a fresh view of the database, for the responder. */
  ocspSigner(): OcspSigner {
    return { certificate: this.certificate, key: this.keyObject };
  }

  /** A DER OCSP response for one of our certificates, for the hub to staple. */
  stapledOcspResponse(serialHex: string, now = new Date(), validityMs?: number): Uint8Array {
    const serial = normalizeSerial(serialHex);
    const db = readDatabase(this.paths.db);
    if (!db.certificates.some((c) => c.serial === serial)) throw new LmgwError('CA_UNKNOWN_ID', `no certificate with serial ${serialHex}`);
    return createStapledResponse(this.ocspSigner(), db, serial, now, validityMs);
  }

  private async issue(req: Omit<CertificateRequest, 'issuer'>, renew: boolean, enforceUniqueId = true): Promise<Issued> {
    return this.mutate(async (db) => {
      let superseded = false;
      if (req.kind === 'gateway' && enforceUniqueId) {
        const id = req.gatewayId ?? req.commonName;
        const current = db.certificates.filter((c) => c.kind === 'gateway' && c.id === id && statusOf(c) === 'valid');
        if (current.length > 0 && !renew) {
          throw new LmgwError('CA_ID_EXISTS', `gateway "${id}" already has a valid certificate (serial ${current[0]?.serial}); use --renew to supersede it`);
        }
        const now = new Date().toISOString();
        for (const old of current) {
          old.revokedAt = now;
          old.reason = 'superseded';
          superseded = true;
        }
      }
      const cert = await createCertificate({ ...req, issuer: this.issuer });
      const serial = cert.serialNumber.toLowerCase();
      const file = join('issued', `${serial}.pem`);
      const certPem = cert.toString('pem');
      writeFileAtomic(join(this.paths.dir, file), certPem);
      const record = recordOf(cert, req.kind, req.kind === 'gateway' ? (req.gatewayId ?? req.commonName) : null, file);
      db.certificates.push(record);
      return { result: { record, certPem }, crl: superseded };
    });
  }

  /** Read-modify-write of the database under the lock; optionally followed by a new CRL. */
  private async mutate<T>(change: (db: CaDatabase) => Promise<{ result: T; crl: boolean; crlDays?: number }>): Promise<T> {
    return withLockFile(this.paths.lock, async () => {
      const db = readDatabase(this.paths.db);
      const outcome = await change(db);
      if (outcome.crl) db.crlNumber += 1;
      writeDatabase(this.paths.db, db);
      if (outcome.crl) {
        const crl = await createCrl(this.issuer, db, db.crlNumber, outcome.crlDays ?? DEFAULT_CRL_DAYS);
        writeFileAtomic(this.paths.crl, crlToPem(crl));
      }
      return outcome.result;
    });
  }
}

function findTarget(db: CaDatabase, target: { id: string } | { serial: string }): CertRecord {
  if ('serial' in target) {
    const serial = normalizeSerial(target.serial);
    const record = db.certificates.find((c) => c.serial === serial);
    if (!record) throw new LmgwError('CA_UNKNOWN_ID', `no certificate with serial ${target.serial}`);
    return record;
  }
  const matches = db.certificates.filter((c) => c.kind === 'gateway' && c.id === target.id);
  if (matches.length === 0) throw new LmgwError('CA_UNKNOWN_ID', `no certificate for gateway id "${target.id}"`);
  const live = matches.filter((c) => statusOf(c) === 'valid');
  if (live.length > 1) {
    throw new LmgwError('CA_UNKNOWN_ID', `gateway "${target.id}" has ${live.length} valid certificates; revoke one by --serial`);
  }
  const chosen = live[0] ?? matches.find((c) => c.revokedAt === undefined) ?? matches[matches.length - 1];
  if (!chosen) throw new LmgwError('CA_UNKNOWN_ID', `no certificate for gateway id "${target.id}"`);
  return chosen;
}

/**
 * A serial as the database stores it: lower-case hex in whole octets, without the 00 octets DER
 * may prepend. Accepts openssl's forms (`0E42…`, `0e:42:…`).
 */
export function normalizeSerial(input: string): string {
  const hex = input.toLowerCase().replace(/:/g, '');
  return (hex.length % 2 ? `0${hex}` : hex).replace(/^(00)+(?=[0-9a-f]{2})/, '');
}

function recordOf(cert: x509.X509Certificate, kind: CertificateKind, id: string | null, file: string): CertRecord {
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  return {
    serial: cert.serialNumber.toLowerCase(),
    kind,
    id,
    subject: cert.subject,
    sans: san ? san.names.items.map((n) => `${n.type}:${n.value}`) : [],
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    issuedAt: new Date().toISOString(),
    file,
  };
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new LmgwError('CA_CORRUPT', `${what} (${path}) cannot be read: ${(err as Error).message}`, { cause: err });
  }
}

function readCertificate(path: string, what: string): x509.X509Certificate {
  const pem = readText(path, what);
  try {
    return new x509.X509Certificate(pem);
  } catch (err) {
    throw new LmgwError('CA_CORRUPT', `${what} (${path}) is not a certificate: ${(err as Error).message}`, { cause: err });
  }
}

/** Creates a file that must not exist yet (keys are never overwritten). */
export function writeExclusive(path: string, data: string, mode: number): void {
  let fd: number;
  try {
    fd = openSync(path, 'wx', mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new LmgwError('CA_OUT_EXISTS', `${path} already exists; LMGW never overwrites a key or certificate`);
    }
    throw new LmgwError('CA_IO', `cannot write ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    writeSync(fd, data);
  } finally {
    closeSync(fd);
  }
}
