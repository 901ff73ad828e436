// @peculiar/x509 resolves its algorithm providers through tsyringe, which needs a Reflect polyfill
// loaded before the library; every certs/ module imports x509 from here, never directly.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// Node's webcrypto is the Web Crypto API; its type differs from the DOM lib's `Crypto` only in
// declarations, which matters where a config (e2e) loads both; under Node's types alone the cast is a no-op.
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export { x509 };
