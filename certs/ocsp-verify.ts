/**
 * Verifying an OCSP response as the agent does with the console's stapled one. Kept apart from the
 * responder (ocsp.ts) so that it needs only node:crypto and the @peculiar/asn1-* schemas, not
 * @peculiar/x509 with tsyringe and reflect-metadata: the agent loads this module on its first
 * stapled handshake (agent/link/tls-connect.ts), and on a small gateway those libraries cost
 * megabytes of resident memory for nothing.
 */
import { createHash, verify, X509Certificate } from 'node:crypto';
import { BasicOCSPResponse, OCSPResponse, OCSPResponseStatus, id_pkix_ocsp_basic } from '@peculiar/asn1-ocsp';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate } from '@peculiar/asn1-x509';
import { LmgwError } from '../shared/errors.js';

export const HASH_OID: Record<string, 'sha1' | 'sha256'> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
};
export const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';

export type IssuerHashes = Record<'sha1' | 'sha256', { nameHash: Buffer; keyHash: Buffer }>;

/** The CertID issuer hashes of a CA (RFC 6960 §4.1.1), from its DER or its parsed certificate. */
export function issuerHashesOf(ca: Uint8Array | Certificate): IssuerHashes {
  const cert = ca instanceof Certificate ? ca : AsnConvert.parse(ca, Certificate);
  const name = Buffer.from(AsnConvert.serialize(cert.tbsCertificate.subject));
  const key = Buffer.from(cert.tbsCertificate.subjectPublicKeyInfo.subjectPublicKey);
  const make = (alg: 'sha1' | 'sha256') => ({
    nameHash: createHash(alg).update(name).digest(),
    keyHash: createHash(alg).update(key).digest(),
  });
  return { sha1: make('sha1'), sha256: make('sha256') };
}

export function hexOf(buffer: ArrayBuffer): string {
  const hex = Buffer.from(buffer).toString('hex');
  // DER INTEGERs may carry a leading 00 to stay positive; our records do not.
  return hex.replace(/^(00)+(?=[0-9a-f]{2})/, '');
}

/** Clock skew tolerated between the CA that signed a response and the agent checking it. */
export const OCSP_CLOCK_SKEW_MS = 5 * 60_000;

const SIGNATURE_HASH: Record<string, 'sha256' | 'sha384'> = {
  [ECDSA_WITH_SHA256]: 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
};

export interface VerifiedOcspStatus {
  status: 'good' | 'revoked' | 'unknown';
  thisUpdate: Date;
  nextUpdate: Date;
  /** When status is revoked. */
  revocationTime?: Date;
}

/**
 * Checks an OCSP response the way an agent must before trusting a stapled status of the console's
 * certificate: a successful basic response, signed by the CA key itself (no delegated responder is
 * accepted, so a certificate inside the response changes nothing), a responder id naming the CA, a
 * SingleResponse whose CertID is exactly (our CA, `serialHex`), and `now` within thisUpdate ..
 * nextUpdate (± OCSP_CLOCK_SKEW_MS). Anything else throws LINK_OCSP_STAPLE; the returned status is
 * the CA's word, which the caller acts on (revoked: refuse).
 */
export function verifyOcspResponse(der: Uint8Array, caPem: string, serialHex: string, now = new Date()): VerifiedOcspStatus {
  const fail = (problem: string, cause?: unknown): never => {
    throw new LmgwError('LINK_OCSP_STAPLE', `the stapled OCSP response ${problem}`, cause === undefined ? undefined : { cause });
  };
  let ca: X509Certificate;
  let caCert: Certificate;
  try {
    ca = new X509Certificate(caPem);
    caCert = AsnConvert.parse(ca.raw, Certificate);
  } catch (err) {
    // Not the response's fault: the trust anchor itself is broken.
    throw new LmgwError('CA_CORRUPT', `the CA certificate is unreadable: ${(err as Error).message}`, { cause: err });
  }
  let response: OCSPResponse;
  let basicDer: Uint8Array;
  let basic: BasicOCSPResponse;
  try {
    response = AsnConvert.parse(der, OCSPResponse);
    if (response.responseStatus !== OCSPResponseStatus.successful) fail(`has status ${OCSPResponseStatus[response.responseStatus]}`);
    if (!response.responseBytes || response.responseBytes.responseType !== id_pkix_ocsp_basic) fail('is not a basic OCSP response');
    basicDer = new Uint8Array(response.responseBytes?.response.buffer ?? new ArrayBuffer(0));
    basic = AsnConvert.parse(basicDer, BasicOCSPResponse);
  } catch (err) {
    if (err instanceof LmgwError) throw err;
    return fail(`is not valid DER: ${(err as Error).message}`, err);
  }

  // The signature covers the DER bytes of tbsResponseData exactly as received, so take them from
  // the input rather than re-serialising the parsed structure.
  const tbsRaw = firstChildOfSequence(basicDer) ?? fail('has no tbsResponseData');
  const hash = SIGNATURE_HASH[basic.signatureAlgorithm.algorithm] ?? fail(`is signed with an unsupported algorithm ${basic.signatureAlgorithm.algorithm}`);
  let signatureOk: boolean;
  try {
    signatureOk = verify(hash, tbsRaw, { key: ca.publicKey, dsaEncoding: 'der' }, Buffer.from(basic.signature));
  } catch {
    signatureOk = false;
  }
  if (!signatureOk) fail('is not signed by the LMGW CA');

  const ours = issuerHashesOf(caCert);
  const responder = basic.tbsResponseData.responderID;
  const byKey = responder.byKey ? Buffer.from(responder.byKey.buffer).equals(ours.sha1.keyHash) : false;
  const byName = responder.byName ? Buffer.from(AsnConvert.serialize(responder.byName)).equals(Buffer.from(AsnConvert.serialize(caCert.tbsCertificate.subject))) : false;
  if (!byKey && !byName) fail('names another responder than the LMGW CA');

  const wanted = normalizeHex(serialHex);
  const single = basic.tbsResponseData.responses.find((r) => {
    const alg = HASH_OID[r.certID.hashAlgorithm.algorithm];
    if (!alg) return false;
    return (
      Buffer.from(r.certID.issuerNameHash.buffer).equals(ours[alg].nameHash) &&
      Buffer.from(r.certID.issuerKeyHash.buffer).equals(ours[alg].keyHash) &&
      hexOf(r.certID.serialNumber) === wanted
    );
  });
  if (!single) return fail(`does not answer for certificate ${wanted} of the LMGW CA`);

  const thisUpdate = single.thisUpdate;
  const nextUpdate = single.nextUpdate ?? fail('has no nextUpdate (a response without one cannot go stale, so it is not accepted)');
  const t = now.getTime();
  if (thisUpdate.getTime() - OCSP_CLOCK_SKEW_MS > t) fail(`is not valid yet (thisUpdate ${thisUpdate.toISOString()})`);
  if (nextUpdate.getTime() + OCSP_CLOCK_SKEW_MS < t) fail(`is stale (nextUpdate ${nextUpdate.toISOString()})`);

  const status = single.certStatus;
  if (status.revoked) return { status: 'revoked', thisUpdate, nextUpdate, revocationTime: status.revoked.revocationTime };
  if (status.good !== undefined) return { status: 'good', thisUpdate, nextUpdate };
  return { status: 'unknown', thisUpdate, nextUpdate };
}

function normalizeHex(serialHex: string): string {
  const hex = serialHex.toLowerCase().replace(/:/g, '');
  return (hex.length % 2 ? `0${hex}` : hex).replace(/^(00)+(?=[0-9a-f]{2})/, '');
}

/** The complete DER encoding (tag, length, value) of the first element inside a DER SEQUENCE. */
function firstChildOfSequence(der: Uint8Array): Uint8Array | undefined {
  const outer = derHeader(der, 0);
  if (!outer || der[0] !== 0x30) return undefined;
  const inner = derHeader(der, outer.headerLength);
  if (!inner) return undefined;
  const end = outer.headerLength + inner.headerLength + inner.length;
  if (end > der.length) return undefined;
  return der.subarray(outer.headerLength, end);
}

function derHeader(der: Uint8Array, offset: number): { headerLength: number; length: number } | undefined {
  const first = der[offset + 1];
  if (first === undefined) return undefined;
  if (first < 0x80) return { headerLength: 2, length: first };
  const count = first & 0x7f;
  if (count === 0 || count > 4) return undefined;
  let length = 0;
  for (let i = 0; i < count; i++) {
    const byte = der[offset + 2 + i];
    if (byte === undefined) return undefined;
    length = length * 256 + byte;
  }
  return { headerLength: 2 + count, length };
}
