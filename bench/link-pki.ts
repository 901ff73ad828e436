/**
 * The link benchmark's PKI, in memory: a CA, the hub's server certificate, one certificate and key
 * per simulated gateway, and an empty CRL. Built with certs/ (createCertificate, generateKeyPair,
 * createCrl) but without the CA directory: `CertificateAuthority.issueGateway` writes the database
 * under a lock for every certificate, which is what a real CA must do and what a benchmark that needs
 * thousands of throw-away identities does not (see docs/benchmarks.md for the two timings).
 */
import { emptyDatabase } from '../certs/ca-db.js';
import { createCrl, crlToPem } from '../certs/crl.js';
import { exportPlainKey, generateKeyPair } from '../certs/keys.js';
import { createCertificate, type Issuer } from '../certs/profiles.js';

export interface BenchGateway {
  id: string;
  certPem: string;
  keyPem: string;
}

export interface BenchPki {
  caPem: string;
  serverCertPem: string;
  serverKeyPem: string;
  crlPem: string;
  gateways: BenchGateway[];
}

/** Gateway ids `bench-00000`, `bench-00001`, …: all the same length, so every frame is too. */
export function benchGatewayId(i: number): string {
  return `bench-${String(i).padStart(5, '0')}`;
}

export async function makeBenchPki(gateways: number): Promise<BenchPki> {
  const caKeys = await generateKeyPair();
  const caCert = await createCertificate({
    kind: 'ca',
    commonName: 'LMGW Bench CA',
    publicKey: caKeys.crypto.publicKey,
    selfSignKey: caKeys.crypto.privateKey,
  });
  const issuer: Issuer = { certificate: caCert, key: caKeys.crypto.privateKey };
  const serverKeys = await generateKeyPair();
  const serverCert = await createCertificate({
    kind: 'server',
    commonName: 'localhost',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
    publicKey: serverKeys.crypto.publicKey,
    issuer,
  });
  const list: BenchGateway[] = [];
  for (let i = 0; i < gateways; i++) {
    const id = benchGatewayId(i);
    const keys = await generateKeyPair();
    const cert = await createCertificate({ kind: 'gateway', commonName: id, gatewayId: id, publicKey: keys.crypto.publicKey, issuer });
    list.push({ id, certPem: cert.toString('pem'), keyPem: exportPlainKey(keys.privateKey) });
  }
  const crl = await createCrl(issuer, emptyDatabase(caCert.serialNumber.toLowerCase()), 1);
  return {
    caPem: caCert.toString('pem'),
    serverCertPem: serverCert.toString('pem'),
    serverKeyPem: exportPlainKey(serverKeys.privateKey),
    crlPem: crlToPem(crl),
    gateways: list,
  };
}
