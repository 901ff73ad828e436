import { join } from 'node:path';
import { CertificateAuthority, initCa } from '../../certs/ca.js';

export const TEST_PASSPHRASE = 'test passphrase 0123';
export const CA_ENV = { LMGW_CA_PASSPHRASE: TEST_PASSPHRASE };

/** A new CA in `<dir>/<name>`, opened. Built with our own certs/ code (STYLE.md: fixtures from certs/). */
export async function aCa(dir: string, name = 'pki', caName?: string): Promise<CertificateAuthority> {
  const pki = join(dir, name);
  await initCa(pki, TEST_PASSPHRASE, caName);
  return CertificateAuthority.open(pki, TEST_PASSPHRASE);
}
