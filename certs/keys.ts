import { createPrivateKey, createPublicKey, generateKeyPairSync, webcrypto, type KeyObject } from 'node:crypto';
import { LmgwError } from '../shared/errors.js';

/** ECDSA P-256 with SHA-256: the only key type LMGW issues (DESIGN.md, security profile). */
export const EC_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
export const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** A key pair in both forms: Node KeyObjects (for PEM files and TLS) and WebCrypto keys (for signing). */
export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
  crypto: CryptoKeyPair;
}

export async function generateKeyPair(): Promise<KeyPair> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, publicKey, crypto: await toCryptoKeyPair(privateKey) };
}

export async function toCryptoKeyPair(privateKey: KeyObject): Promise<CryptoKeyPair> {
  const publicKey = createPublicKey(privateKey);
  const [priv, pub] = await Promise.all([
    webcrypto.subtle.importKey('pkcs8', privateKey.export({ type: 'pkcs8', format: 'der' }), EC_ALGORITHM, false, ['sign']),
    webcrypto.subtle.importKey('spki', publicKey.export({ type: 'spki', format: 'der' }), EC_ALGORITHM, true, ['verify']),
  ]);
  return { privateKey: priv, publicKey: pub };
}

/** PKCS#8 PEM encrypted with AES-256-CBC under PBES2/PBKDF2 (readable by `openssl pkey`). */
export function exportEncryptedKey(privateKey: KeyObject, passphrase: string): string {
  return privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase }) as string;
}

/** PKCS#8 PEM in clear: for keys a service must load unattended (the hub, an agent); stored 0600. */
export function exportPlainKey(privateKey: KeyObject): string {
  return privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
}

export function importEncryptedKey(pem: string, passphrase: string, what = 'the CA key'): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem', passphrase });
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    if (/BAD_DECRYPT|DECODER|bad decrypt/i.test(code + (err as Error).message)) {
      throw new LmgwError('CA_BAD_PASSPHRASE', `the passphrase does not decrypt ${what}`, { cause: err });
    }
    throw new LmgwError('CA_CORRUPT', `${what} is unreadable: ${(err as Error).message}`, { cause: err });
  }
  assertP256(key, what);
  return key;
}

export function importPlainKey(pem: string, what: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new LmgwError('CA_CORRUPT', `${what} is not a readable private key: ${(err as Error).message}`, { cause: err });
  }
  assertP256(key, what);
  return key;
}

function assertP256(key: KeyObject, what: string): void {
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new LmgwError('CA_CORRUPT', `${what} is not an ECDSA P-256 key`);
  }
}
