import { readFileSync, statSync } from 'node:fs';
import { LmgwError } from '../shared/errors.js';

/**
 * Reads a private key file, refusing one that group or others may read: a key that leaked to another
 * local user is a key to revoke, so LMGW will not use it (like ssh does with its keys).
 */
export function readPrivateKeyFile(path: string): string {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (err) {
    throw new LmgwError('CONFIG_INVALID', `cannot read the key file ${path}: ${(err as Error).message}`, { cause: err });
  }
  if ((mode & 0o077) !== 0) {
    throw new LmgwError(
      'LINK_KEY_PERMISSIONS',
      `the key file ${path} is readable by group or others (mode ${(mode & 0o777).toString(8).padStart(3, '0')}); run chmod 600 ${path}`,
    );
  }
  return readFileSync(path, 'utf8');
}

/** Reads a certificate, CA or CRL file with an error that names it. */
export function readPemFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new LmgwError('CONFIG_INVALID', `cannot read ${what} ${path}: ${(err as Error).message}`, { cause: err });
  }
}
