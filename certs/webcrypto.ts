// Node's WebCrypto types live under `webcrypto`; the DOM lib (which declares them globally) is not
// loaded for Node code, so certs/ names them from here.
import type { webcrypto } from 'node:crypto';

export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;
export type EcKeyAlgorithm = webcrypto.EcKeyAlgorithm;
export type Crypto = webcrypto.Crypto;
