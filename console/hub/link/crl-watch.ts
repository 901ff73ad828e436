import { createHash } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { x509 } from '../../../certs/x509.js';
import { LmgwError } from '../../../shared/errors.js';

export interface LoadedCrl {
  pem: string;
  nextUpdate: Date | undefined;
  /** Revoked serials, lower-case hex as the CA database stores them. */
  revoked: ReadonlySet<string>;
  sha256: string;
}

/** Reads and checks a CRL: it must parse and be signed by our CA. Throws LINK_CRL_UNREADABLE. */
export async function loadCrl(path: string, caPem: string): Promise<LoadedCrl> {
  let pem: string;
  let crl: x509.X509Crl;
  try {
    pem = readFileSync(path, 'utf8');
    crl = new x509.X509Crl(pem);
  } catch (err) {
    throw new LmgwError('LINK_CRL_UNREADABLE', `the CRL ${path} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  const ca = new x509.X509Certificate(caPem);
  const signedByCa = await crl.verify({ publicKey: ca.publicKey }).catch(() => false);
  if (!signedByCa) throw new LmgwError('LINK_CRL_UNREADABLE', `the CRL ${path} is not signed by the LMGW CA`);
  const revoked = new Set(crl.entries.map((e) => e.serialNumber.toLowerCase().replace(/^(00)+(?=[0-9a-f]{2})/, '')));
  return { pem, nextUpdate: crl.nextUpdate, revoked, sha256: createHash('sha256').update(pem).digest('hex') };
}

/**
 * Watches a CRL file (stat polling, which also sees the atomic rename `lmgw-ca` does, plus a full
 * re-read every `reloadMs`) and calls `onChange` with each new, valid version. Polling every `intervalMs` keeps revocation well inside the
 * 5 s the link promises, at the cost of one stat per second.
 */
export function watchCrl(
  path: string,
  caPem: string,
  current: LoadedCrl,
  onChange: (crl: LoadedCrl) => void,
  onError: (err: LmgwError) => void,
  intervalMs = 1000,
  reloadMs = 60_000,
): () => void {
  let last = current.sha256;
  let busy = false;
  const check = (): void => {
    if (busy) return;
    busy = true;
    loadCrl(path, caPem)
      .then((crl) => {
        if (crl.sha256 !== last) {
          last = crl.sha256;
          onChange(crl);
        }
      })
      .catch((err: unknown) => onError(err instanceof LmgwError ? err : new LmgwError('LINK_CRL_UNREADABLE', String(err))))
      .finally(() => {
        busy = false;
      });
  };
  watchFile(path, { interval: intervalMs, persistent: false }, check);
  // Also re-read periodically: a copy that keeps its size and mtime (rsync -t, some deploy tools)
  // would slip past stat polling.
  const periodic = setInterval(check, reloadMs);
  periodic.unref();
  return () => {
    unwatchFile(path, check);
    clearInterval(periodic);
  };
}
