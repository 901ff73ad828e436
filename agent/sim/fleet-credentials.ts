/**
 * Certificates for a simulated fleet, in the layout `lmgw-ca issue-gateway --out DIR/<id>` writes:
 * `DIR/<id>/gateway.pem`, `DIR/<id>/gateway.key`, and the CA's certificate as `DIR/ca.pem`. Issued
 * through the CA directory (certs/ca.ts, so they are recorded, listed and revocable like any
 * gateway's) the first time, read back on later runs.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CertificateAuthority } from '../../certs/ca.js';
import { LmgwError } from '../../shared/errors.js';
import type { SimGatewayCredentials } from './gateway.js';

/** Certificates issued per CA database write. */
const ISSUE_BATCH = 1000;

/** `prefix` + the index, zero-padded to 5 digits: `sim-00000`, `sim-00001`, … */
export function simGatewayIds(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${String(i).padStart(5, '0')}`);
}

function readPair(dir: string, id: string): SimGatewayCredentials | undefined {
  const cert = join(dir, id, 'gateway.pem');
  const key = join(dir, id, 'gateway.key');
  if (!existsSync(cert) || !existsSync(key)) return undefined;
  return { id, certPem: readFileSync(cert, 'utf8'), keyPem: readFileSync(key, 'utf8') };
}

/** Reads prepared certificates; every id must have its pair, and DIR/ca.pem must exist. */
export function readFleetCredentials(dir: string, ids: readonly string[]): { caPem: string; gateways: SimGatewayCredentials[] } {
  const caPath = join(dir, 'ca.pem');
  if (!existsSync(caPath)) throw new LmgwError('CONFIG_INVALID', `--certs ${dir}: no ca.pem (give --pki DIR to issue the certificates from the CA)`);
  const gateways = ids.map((id) => {
    const pair = readPair(dir, id);
    if (!pair) throw new LmgwError('CONFIG_INVALID', `--certs ${dir}: no ${id}/gateway.pem and ${id}/gateway.key (give --pki DIR to issue the missing ones)`);
    return pair;
  });
  return { caPem: readFileSync(caPath, 'utf8'), gateways };
}

/**
 * Reads what `dir` holds and issues the rest from the CA in `pkiDir` (a gateway the CA already has a
 * valid certificate for, whose files are not in `dir`, is renewed: the old one is superseded).
 */
export async function issueFleetCredentials(
  pkiDir: string,
  passphrase: string,
  dir: string,
  ids: readonly string[],
  progress: (issued: number, total: number) => void = () => undefined,
): Promise<{ caPem: string; gateways: SimGatewayCredentials[]; issued: number }> {
  const ca = await CertificateAuthority.open(pkiDir, passphrase);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'ca.pem'), ca.certificatePem);
  const have = new Map(ids.flatMap((id) => {
    const pair = readPair(dir, id);
    return pair ? [[id, pair] as const] : [];
  }));
  const missing = ids.filter((id) => !have.has(id));
  let issued = 0;
  // In batches: one CA database write per batch (issueGateways), progress between them.
  for (let from = 0; from < missing.length; from += ISSUE_BATCH) {
    for (const out of await ca.issueGateways(missing.slice(from, from + ISSUE_BATCH), { renew: true })) {
      const id = out.record.id;
      if (!id || !out.keyPem) throw new Error('unreachable: issueGateways made a certificate without an id or a key');
      mkdirSync(join(dir, id), { recursive: true, mode: 0o700 });
      writeFileSync(join(dir, id, 'gateway.key'), out.keyPem, { mode: 0o600 });
      writeFileSync(join(dir, id, 'gateway.pem'), out.certPem);
      have.set(id, { id, certPem: out.certPem, keyPem: out.keyPem });
      issued += 1;
    }
    progress(issued, missing.length);
  }
  const gateways = ids.map((id) => {
    const pair = have.get(id);
    if (!pair) throw new Error(`unreachable: no certificate for ${id}`);
    return pair;
  });
  return { caPem: ca.certificatePem, gateways, issued };
}
