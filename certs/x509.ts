// @peculiar/x509 resolves its algorithm providers through tsyringe, which needs a Reflect polyfill
// loaded before the library; every certs/ module imports x509 from here, never directly.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto);

export { x509 };
