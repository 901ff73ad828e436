import { AsnConvert } from '@peculiar/asn1-schema';
import { CRLNumber, id_ce_cRLNumber } from '@peculiar/asn1-x509';
import type { CaDatabase, RevocationReason } from './ca-db.js';
import { SIGNING_ALGORITHM } from './keys.js';
import type { Issuer } from './profiles.js';
import { x509 } from './x509.js';

export const DEFAULT_CRL_DAYS = 7;

/** PEM with the label OpenSSL and Node expect ("X509 CRL"; the library writes "CRL"). */
export function crlToPem(crl: x509.X509Crl): string {
  return `${x509.PemConverter.encode(crl.rawData, 'X509 CRL')}\n`;
}

const REASON_CODE: Record<RevocationReason, x509.X509CrlReason | undefined> = {
  // RFC 5280 §5.3.1: the reason code "unspecified" SHOULD be absent from the entry.
  unspecified: undefined,
  keyCompromise: x509.X509CrlReason.keyCompromise,
  cACompromise: x509.X509CrlReason.cACompromise,
  affiliationChanged: x509.X509CrlReason.affiliationChanged,
  superseded: x509.X509CrlReason.superseded,
  cessationOfOperation: x509.X509CrlReason.cessationOfOperation,
  certificateHold: x509.X509CrlReason.certificateHold,
  privilegeWithdrawn: x509.X509CrlReason.privilegeWithdrawn,
};

/**
 * A CRL v2 of every revoked certificate in the database, with reason codes, a CRL number and the
 * authority key identifier. The caller bumps and stores `crlNumber`.
 */
export async function createCrl(
  ca: Issuer,
  db: CaDatabase,
  crlNumber: number,
  days = DEFAULT_CRL_DAYS,
  now = new Date(),
): Promise<x509.X509Crl> {
  const entries = db.certificates
    .filter((c) => c.revokedAt !== undefined)
    .map((c) => {
      const reason = c.reason ? REASON_CODE[c.reason] : undefined;
      return {
        serialNumber: c.serial,
        revocationDate: new Date(c.revokedAt ?? now),
        ...(reason === undefined ? {} : { reason }),
      };
    });
  return x509.X509CrlGenerator.create({
    issuer: ca.certificate.subject,
    thisUpdate: now,
    nextUpdate: new Date(now.getTime() + days * 86_400_000),
    entries,
    extensions: [
      new x509.Extension(id_ce_cRLNumber, false, AsnConvert.serialize(new CRLNumber(crlNumber))),
      await x509.AuthorityKeyIdentifierExtension.create(ca.certificate.publicKey),
    ],
    signingAlgorithm: SIGNING_ALGORITHM,
    signingKey: ca.key,
  });
}
