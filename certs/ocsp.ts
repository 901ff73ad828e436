import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import {
  BasicOCSPResponse,
  CertID,
  CertStatus,
  OCSPRequest,
  OCSPResponse,
  OCSPResponseStatus,
  ResponderID,
  ResponseBytes,
  ResponseData,
  RevokedInfo,
  SingleResponse,
  id_pkix_ocsp_basic,
  id_pkix_ocsp_nonce,
} from '@peculiar/asn1-ocsp';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, CRLReason, CRLReasons, Certificate, type Extension } from '@peculiar/asn1-x509';
import { LmgwError } from '../shared/errors.js';
import { statusOf, type CaDatabase, type RevocationReason } from './ca-db.js';
import { x509 } from './x509.js';

/** How long a responder's answer may be cached by the client: one hour. */
export const OCSP_VALIDITY_MS = 3_600_000;
/** Default validity of a staple file (`lmgw-ca staple`), refreshed by cron well before it ends. */
export const STAPLE_VALIDITY_MS = 24 * 3_600_000;

const HASH_OID: Record<string, 'sha1' | 'sha256'> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
};
const OID_BY_HASH = { sha1: '1.3.14.3.2.26', sha256: '2.16.840.1.101.3.4.2.1' } as const;
const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';

/** The CA as an OCSP responder: its certificate and key (responses are signed by the CA itself). */
export interface OcspSigner {
  certificate: x509.X509Certificate;
  key: KeyObject;
}

interface IssuerHashes {
  name: ArrayBuffer;
  key: ArrayBuffer;
}

function issuerHashes(ca: x509.X509Certificate): Record<'sha1' | 'sha256', { nameHash: Buffer; keyHash: Buffer }> {
  const cert = AsnConvert.parse(ca.rawData, Certificate);
  const raw: IssuerHashes = {
    name: AsnConvert.serialize(cert.tbsCertificate.subject),
    key: cert.tbsCertificate.subjectPublicKeyInfo.subjectPublicKey,
  };
  const make = (alg: 'sha1' | 'sha256') => ({
    nameHash: createHash(alg).update(Buffer.from(raw.name)).digest(),
    keyHash: createHash(alg).update(Buffer.from(raw.key)).digest(),
  });
  return { sha1: make('sha1'), sha256: make('sha256') };
}

function hexOf(buffer: ArrayBuffer): string {
  const hex = Buffer.from(buffer).toString('hex');
  // DER INTEGERs may carry a leading 00 to stay positive; our records do not.
  return hex.replace(/^(00)+(?=[0-9a-f]{2})/, '');
}

export interface ParsedOcspRequest {
  certIds: CertID[];
  nonce?: Extension;
}

/** Parses a DER OCSPRequest; a malformed one throws CA_BAD_OCSP_REQUEST (the responder answers malformedRequest). */
export function parseOcspRequest(der: Uint8Array): ParsedOcspRequest {
  let req: OCSPRequest;
  try {
    req = AsnConvert.parse(der, OCSPRequest);
  } catch (err) {
    throw new LmgwError('CA_BAD_OCSP_REQUEST', `not an OCSP request: ${(err as Error).message}`, { cause: err });
  }
  const nonce = req.tbsRequest.requestExtensions?.find((e) => e.extnID === id_pkix_ocsp_nonce);
  return { certIds: req.tbsRequest.requestList.map((r) => r.reqCert), ...(nonce ? { nonce } : {}) };
}

/** A CertID for one of our certificates, as a client would send it (SHA-1, the common default). */
export function certIdFor(ca: x509.X509Certificate, serialHex: string, hash: 'sha1' | 'sha256' = 'sha1'): CertID {
  const h = issuerHashes(ca)[hash];
  return new CertID({
    hashAlgorithm: new AlgorithmIdentifier({ algorithm: OID_BY_HASH[hash], parameters: null }),
    issuerNameHash: new OctetString(h.nameHash),
    issuerKeyHash: new OctetString(h.keyHash),
    // A copy: a small Buffer's .buffer is Node's shared pool, not just these bytes.
    serialNumber: new Uint8Array(Buffer.from(serialHex.length % 2 ? `0${serialHex}` : serialHex, 'hex')).buffer,
  });
}

const REASONS: Record<RevocationReason, CRLReasons> = {
  unspecified: CRLReasons.unspecified,
  keyCompromise: CRLReasons.keyCompromise,
  cACompromise: CRLReasons.cACompromise,
  affiliationChanged: CRLReasons.affiliationChanged,
  superseded: CRLReasons.superseded,
  cessationOfOperation: CRLReasons.cessationOfOperation,
  certificateHold: CRLReasons.certificateHold,
  privilegeWithdrawn: CRLReasons.privilegeWithdrawn,
};

function statusFor(ca: x509.X509Certificate, db: CaDatabase, certId: CertID, now: Date): CertStatus {
  const alg = HASH_OID[certId.hashAlgorithm.algorithm];
  if (!alg) return new CertStatus({ unknown: null });
  const ours = issuerHashes(ca)[alg];
  const sameIssuer =
    Buffer.from(certId.issuerNameHash.buffer).equals(ours.nameHash) &&
    Buffer.from(certId.issuerKeyHash.buffer).equals(ours.keyHash);
  if (!sameIssuer) return new CertStatus({ unknown: null });
  const record = db.certificates.find((c) => c.serial === hexOf(certId.serialNumber));
  if (!record) return new CertStatus({ unknown: null });
  if (statusOf(record, now) === 'revoked') {
    return new CertStatus({
      revoked: new RevokedInfo({
        revocationTime: new Date(record.revokedAt ?? now),
        ...(record.reason && record.reason !== 'unspecified' ? { revocationReason: new CRLReason(REASONS[record.reason]) } : {}),
      }),
    });
  }
  return new CertStatus({ good: null });
}

/**
 * A signed, successful OCSP response (DER) answering every CertID, signed directly by the CA
 * (RFC 6960 §4.2.2.2: no delegated responder certificate needed).
 */
export function createOcspResponse(
  signer: OcspSigner,
  db: CaDatabase,
  request: ParsedOcspRequest,
  now = new Date(),
  validityMs = OCSP_VALIDITY_MS,
): Uint8Array {
  const thisUpdate = new Date(Math.floor(now.getTime() / 1000) * 1000);
  const responses = request.certIds.map(
    (certID) =>
      new SingleResponse({
        certID,
        certStatus: statusFor(signer.certificate, db, certID, now),
        thisUpdate,
        nextUpdate: new Date(thisUpdate.getTime() + validityMs),
      }),
  );
  const tbs = new ResponseData({
    responderID: new ResponderID({ byKey: new OctetString(issuerHashes(signer.certificate).sha1.keyHash) }),
    producedAt: thisUpdate,
    responses,
    ...(request.nonce ? { responseExtensions: [request.nonce] } : {}),
  });
  const tbsDer = AsnConvert.serialize(tbs);
  const signature = sign('sha256', Buffer.from(tbsDer), { key: signer.key, dsaEncoding: 'der' });
  const basic = new BasicOCSPResponse({
    tbsResponseData: tbs,
    signatureAlgorithm: new AlgorithmIdentifier({ algorithm: ECDSA_WITH_SHA256 }),
    signature: new Uint8Array(signature).buffer,
  });
  const response = new OCSPResponse({
    responseStatus: OCSPResponseStatus.successful,
    responseBytes: new ResponseBytes({
      responseType: id_pkix_ocsp_basic,
      response: new OctetString(AsnConvert.serialize(basic)),
    }),
  });
  return new Uint8Array(AsnConvert.serialize(response));
}

/** An unsigned error response (malformedRequest, internalError, …), as RFC 6960 prescribes. */
export function ocspErrorResponse(status: OCSPResponseStatus): Uint8Array {
  return new Uint8Array(AsnConvert.serialize(new OCSPResponse({ responseStatus: status })));
}

/** The response the hub staples for its own certificate. */
export function createStapledResponse(
  signer: OcspSigner,
  db: CaDatabase,
  serialHex: string,
  now = new Date(),
  validityMs = STAPLE_VALIDITY_MS,
): Uint8Array {
  return createOcspResponse(signer, db, { certIds: [certIdFor(signer.certificate, serialHex)] }, now, validityMs);
}

export { OCSPResponseStatus };

// --- verifying a stapled response (the agent's side) ----------------------------------------------

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
  let ca: x509.X509Certificate;
  try {
    ca = new x509.X509Certificate(caPem);
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
  const caKey = createPublicKey({ key: Buffer.from(ca.publicKey.rawData), format: 'der', type: 'spki' });
  let signatureOk: boolean;
  try {
    signatureOk = verify(hash, tbsRaw, { key: caKey, dsaEncoding: 'der' }, Buffer.from(basic.signature));
  } catch {
    signatureOk = false;
  }
  if (!signatureOk) fail('is not signed by the LMGW CA');

  const ours = issuerHashes(ca);
  const responder = basic.tbsResponseData.responderID;
  const byKey = responder.byKey ? Buffer.from(responder.byKey.buffer).equals(ours.sha1.keyHash) : false;
  const byName = responder.byName ? Buffer.from(AsnConvert.serialize(responder.byName)).equals(Buffer.from(AsnConvert.serialize(AsnConvert.parse(ca.rawData, Certificate).tbsCertificate.subject))) : false;
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
