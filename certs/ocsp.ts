import { sign, type KeyObject } from 'node:crypto';
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
import { AlgorithmIdentifier, CRLReason, CRLReasons, type Extension } from '@peculiar/asn1-x509';
import { LmgwError } from '../shared/errors.js';
import { statusOf, type CaDatabase, type RevocationReason } from './ca-db.js';
import { ECDSA_WITH_SHA256, HASH_OID, hexOf, issuerHashesOf } from './ocsp-verify.js';
import type { x509 } from './x509.js';

// The agent's side (verifying a staple) lives in ocsp-verify.ts, which the agent loads without
// @peculiar/x509; it is re-exported here for everyone else.
export { OCSP_CLOCK_SKEW_MS, verifyOcspResponse, type VerifiedOcspStatus } from './ocsp-verify.js';

/** How long a responder's answer may be cached by the client: one hour. */
export const OCSP_VALIDITY_MS = 3_600_000;
/** Default validity of a staple file (`lmgw-ca staple`), refreshed by cron well before it ends. */
export const STAPLE_VALIDITY_MS = 24 * 3_600_000;

const OID_BY_HASH = { sha1: '1.3.14.3.2.26', sha256: '2.16.840.1.101.3.4.2.1' } as const;

/** The CA as an OCSP responder: its certificate and key (responses are signed by the CA itself). */
export interface OcspSigner {
  certificate: x509.X509Certificate;
  key: KeyObject;
}

function issuerHashes(ca: x509.X509Certificate): ReturnType<typeof issuerHashesOf> {
  return issuerHashesOf(new Uint8Array(ca.rawData));
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

