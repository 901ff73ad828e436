import { readFileSync, statSync } from 'node:fs';
import { LmgwError } from '../shared/errors.js';

/**
 * LINK_KEY_PERMISSIONS when group or others have any access to a private key file: a key that leaked
 * to another local user is a key to revoke, so LMGW will not use it (as ssh does with its keys).
 * `field` names the config field in the error when the file cannot be read.
 */
export function checkKeyPermissions(path: string, field = 'tls.key'): void {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (err) {
    throw new LmgwError('CONFIG_INVALID', `${field}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  if ((mode & 0o077) !== 0) {
    const octal = (mode & 0o777).toString(8).padStart(4, '0');
    throw new LmgwError('LINK_KEY_PERMISSIONS', `the key file ${path} has mode ${octal}: group or others may read it; run chmod 600 ${path}`);
  }
}

/** Reads a private key file after `checkKeyPermissions`. */
export function readPrivateKeyFile(path: string, field = 'tls.key'): string {
  checkKeyPermissions(path, field);
  return readPemFile(path, field);
}

/** Reads a certificate, CA, CRL or key file; an error names the config field and the file. */
export function readPemFile(path: string, field: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new LmgwError('CONFIG_INVALID', `${field}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}
