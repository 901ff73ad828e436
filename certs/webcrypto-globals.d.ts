// @peculiar/x509's declarations name the WebCrypto types as DOM globals (CryptoKey, …). Node code is
// checked without the DOM lib, so they are declared here from Node's own `webcrypto` types.
/* eslint-disable @typescript-eslint/no-empty-object-type -- interface merging with Node's types is the point */
import type { webcrypto } from 'node:crypto';

declare global {
  interface CryptoKey extends webcrypto.CryptoKey {}
  interface CryptoKeyPair extends webcrypto.CryptoKeyPair {}
  interface EcKeyAlgorithm extends webcrypto.EcKeyAlgorithm {}
  interface Crypto extends webcrypto.Crypto {}
}
