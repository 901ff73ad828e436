import { LmgwError } from '../shared/errors.js';
import { gatewayIdFromUri, gatewayUri, isGatewayId } from '../shared/ids.js';
import { exportPlainKey, generateKeyPair, SIGNING_ALGORITHM } from './keys.js';
import { x509 } from './x509.js';

export interface GatewayCsr {
  /** PKCS#8 PEM of the new private key: it never leaves the gateway. */
  keyPem: string;
  csrPem: string;
}

/** Makes a gateway's key pair and its certificate signing request, locally (`lmgw-agent enroll`). */
export async function createGatewayCsr(gatewayId: string): Promise<GatewayCsr> {
  if (!isGatewayId(gatewayId)) throw new LmgwError('CA_BAD_ID', `"${gatewayId}" is not a valid gateway id`);
  const keys = await generateKeyPair();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${gatewayId}`,
    keys: keys.crypto,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: gatewayUri(gatewayId) }])],
  });
  return { keyPem: exportPlainKey(keys.privateKey), csrPem: csr.toString('pem') };
}

export interface VerifiedCsr {
  gatewayId: string;
  publicKey: CryptoKey;
}

/**
 * Parses a PEM (or DER) CSR, checks its self-signature (proof of possession of the key) and that it
 * names exactly one valid gateway id — in the CN, in a `urn:lmgw:gateway:` SAN URI, or both, equal.
 * Everything else the CSR asks for is ignored: the CA decides the profile.
 */
export async function verifyGatewayCsr(input: string | Uint8Array): Promise<VerifiedCsr> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(typeof input === 'string' ? input : new Uint8Array(input));
  } catch (err) {
    throw new LmgwError('CA_BAD_CSR', `not a PKCS#10 certificate signing request: ${firstLine(err)}`, { cause: err });
  }
  let signatureOk: boolean;
  try {
    signatureOk = await csr.verify();
  } catch (err) {
    throw new LmgwError('CA_BAD_CSR', `the CSR's signature cannot be checked: ${firstLine(err)}`, { cause: err });
  }
  if (!signatureOk) throw new LmgwError('CA_BAD_CSR', "the CSR's signature does not verify");

  const alg = csr.publicKey.algorithm as EcKeyAlgorithm;
  if (alg.name !== 'ECDSA' || alg.namedCurve !== 'P-256') {
    throw new LmgwError('CA_BAD_CSR', `the CSR's key is ${alg.name}${alg.namedCurve ? ` ${alg.namedCurve}` : ''}; LMGW issues for ECDSA P-256 keys only`);
  }
  const cns = csr.subjectName.getField('CN');
  if (cns.length > 1) throw new LmgwError('CA_BAD_ID', 'the CSR has more than one CN');
  const cn = cns[0];
  const sanExtension = csr.getExtension('2.5.29.17');
  const san = sanExtension ? new x509.SubjectAlternativeNameExtension(sanExtension.rawData) : undefined;
  const uris = san ? san.names.items.filter((n) => n.type === 'url').map((n) => n.value) : [];
  if (uris.length > 1) throw new LmgwError('CA_BAD_ID', 'the CSR names more than one URI');
  const uri = uris[0];
  const fromUri = uri === undefined ? undefined : gatewayIdFromUri(uri);
  if (uri !== undefined && fromUri === undefined) throw new LmgwError('CA_BAD_ID', `the CSR's URI "${uri}" is not a valid gateway URI`);
  const id = fromUri ?? cn;
  if (id === undefined) throw new LmgwError('CA_BAD_ID', 'the CSR names no gateway id (no CN, no gateway URI)');
  if (!isGatewayId(id)) throw new LmgwError('CA_BAD_ID', `the CSR's id "${id}" is not a valid gateway id`);
  if (cn !== undefined && fromUri !== undefined && cn !== fromUri) {
    throw new LmgwError('CA_BAD_ID', `the CSR's CN "${cn}" and URI id "${fromUri}" differ`);
  }
  const publicKey: CryptoKey = await csr.publicKey.export();
  return { gatewayId: id, publicKey };
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}
