import { join } from 'node:path';

/** The files of a CA directory (`--pki DIR`). The CA key is encrypted; the database and key are 0600. */
export function pkiPaths(dir: string) {
  return {
    dir,
    caCert: join(dir, 'ca.pem'),
    caKey: join(dir, 'ca.key'),
    db: join(dir, 'db.json'),
    crl: join(dir, 'crl.pem'),
    issued: join(dir, 'issued'),
    lock: join(dir, '.lock'),
  };
}

export type PkiPaths = ReturnType<typeof pkiPaths>;
