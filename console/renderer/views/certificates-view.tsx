/**
 * Gateway certificates from the console's CA, and revocation: the hub writes a fresh CRL and closes
 * the gateway's session within seconds. Revoking is for good (a new certificate is the only way back),
 * so the dialog names the gateway and the serial and asks for the reason.
 */
import { useMemo, useState, type ReactNode } from 'react';
import type { CertificateRecord, RevocationReasonChoice } from '../../hub/operator/types.js';
import { toOperatorError, type OperatorError } from '../api/operator-error.js';
import { CertStatusBadge } from '../components/badges.js';
import { DataTable, type Column } from '../components/data-table.js';
import { ErrorNote } from '../components/error-note.js';
import { Modal } from '../components/modal.js';
import { useQuery } from '../components/use-query.js';
import { formatDuration, type ZonedTime } from '../logic/format.js';
import { routeHash } from '../logic/route.js';
import { useAnnounce, useClient, useFleet, useNow, useZone } from '../state/context.js';

// Every reason the hub takes (REVOCATION_REASON_CHOICES; the Record type makes a new one a compile
// error here), in words. The renderer may import types only from the hub, hence the copy.
const REASON_TEXT: Record<RevocationReasonChoice, string> = {
  unspecified: 'Unspecified',
  keyCompromise: 'Key compromise (the private key may be known to others)',
  affiliationChanged: 'Affiliation changed (the customer left)',
  superseded: 'Superseded (replaced by a new certificate)',
  cessationOfOperation: 'Cessation of operation (the gateway is retired)',
};
const REVOCATION_REASON_CHOICES = Object.keys(REASON_TEXT) as RevocationReasonChoice[];

function NoCa(): ReactNode {
  return (
    <section className="panel note-panel" aria-labelledby="no-ca-title">
      <h2 id="no-ca-title" className="panel-title">
        This console holds no CA
      </h2>
      <p>
        Certificates are listed and revoked here only when the console is configured with the CA directory (config field <code>ca.dir</code>). Revoke on the CA
        machine instead, then copy the CRL it writes to the console (the hub applies it within seconds):
      </p>
      <pre className="command">lmgw-ca revoke --pki /path/to/pki --id GATEWAY_ID --reason keyCompromise</pre>
      <p className="muted">
        Or by serial: <code>--serial HEX</code>. Reasons: {REVOCATION_REASON_CHOICES.join(', ')}.
      </p>
    </section>
  );
}

function RevokeDialog({ cert, onClose, onRevoked }: { cert: CertificateRecord; onClose: () => void; onRevoked: (c: CertificateRecord) => void }): ReactNode {
  const client = useClient();
  const announce = useAnnounce();
  const zone = useZone();
  const [reason, setReason] = useState<RevocationReasonChoice>('unspecified');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<OperatorError | null>(null);

  const revoke = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      const record = await client.revokeCertificate(cert.serial, reason);
      onRevoked(record);
      announce(
        `Certificate ${record.serial} of ${record.gatewayId} revoked (${reason})${record.revokedAt !== undefined ? ` at ${zone.time(record.revokedAt)}` : ''}; its session closes within seconds`,
        'ok',
      );
      // The table row now says "revoked" and the outcome is announced.
      onClose();
    } catch (err) {
      const e = toOperatorError(err);
      setError(e);
      setBusy(false);
      announce(`Revocation of ${cert.gatewayId}'s certificate refused (${e.code})`, 'error');
    }
  };

  return (
    <Modal title="Revoke certificate" onClose={onClose} tone="danger">
      <p>
        Revoke the certificate of gateway <strong>{cert.gatewayId}</strong>?
      </p>
      <dl className="facts">
        <div>
          <dt>Serial</dt>
          <dd>
            <code className="serial">{cert.serial}</code>
          </dd>
        </div>
        <div>
          <dt>Subject</dt>
          <dd>{cert.subject}</dd>
        </div>
        <div>
          <dt>In use</dt>
          <dd>{cert.inUse ? 'yes, by the current or last session' : 'no'}</dd>
        </div>
      </dl>
      <p className="note note-warn">
        {cert.gatewayId} is disconnected within seconds and cannot connect again until it has a new certificate. This cannot be undone.
      </p>
      <label className="field">
        <span>Reason</span>
        <select value={reason} onChange={(e) => setReason(e.target.value as RevocationReasonChoice)} disabled={busy}>
          {REVOCATION_REASON_CHOICES.map((r) => (
            <option key={r} value={r}>
              {REASON_TEXT[r]}
            </option>
          ))}
        </select>
      </label>
      <ErrorNote error={error} />
      <div className="modal-actions">
        <button type="button" className="btn btn-danger" onClick={() => void revoke()} disabled={busy}>
          {busy ? 'Revoking…' : 'Revoke certificate'}
        </button>
        <button type="button" className="btn btn-quiet" onClick={onClose} disabled={busy}>
          Cancel
        </button>
      </div>
    </Modal>
  );
}

function certificateColumns(zone: ZonedTime, now: number, revoke: (c: CertificateRecord) => void): Column<CertificateRecord>[] {
  return [
    { key: 'gateway', header: 'Gateway', cell: (c) => <a href={routeHash({ view: 'gateway', gatewayId: c.gatewayId })}>{c.gatewayId}</a> },
    { key: 'serial', header: 'Serial', cell: (c) => <code className="serial">{c.serial}</code> },
    {
      key: 'status',
      header: 'Status',
      cell: (c) => (
        <>
          <CertStatusBadge status={c.status} />
          {c.revokedAt !== undefined && (
            <div className="muted small">
              {zone.date(c.revokedAt)} {c.reason}
            </div>
          )}
        </>
      ),
    },
    { key: 'from', header: 'Valid from', cell: (c) => zone.date(c.notBefore) },
    {
      key: 'expires',
      header: 'Expires',
      cell: (c) => {
        const left = c.notAfter - now;
        return (
          <>
            {zone.date(c.notAfter)}
            <div className={`small ${left < 30 * 86_400_000 ? 'tone-warn' : 'muted'}`}>{left > 0 ? `${formatDuration(left / 1000)} left` : 'expired'}</div>
          </>
        );
      },
    },
    { key: 'inUse', header: 'In use', cell: (c) => (c.inUse ? <span className="badge badge-info">in use</span> : <span className="muted">no</span>) },
    {
      key: 'actions',
      header: 'Actions',
      hiddenHeader: true,
      cell: (c) => (
        <>
          <button type="button" className="btn btn-small btn-danger-outline" disabled={c.status === 'revoked'} onClick={() => revoke(c)} aria-describedby={`cert-${c.serial}`}>
            Revoke
          </button>
          <span id={`cert-${c.serial}`} className="sr-only">
            the certificate {c.serial} of {c.gatewayId}
          </span>
        </>
      ),
    },
  ];
}

function CertificateTable(): ReactNode {
  const client = useClient();
  const zone = useZone();
  const now = useNow();
  const certs = useQuery(() => client.certificates(), [client]);
  const [revoking, setRevoking] = useState<CertificateRecord | null>(null);
  const [updated, setUpdated] = useState<ReadonlyMap<string, CertificateRecord>>(new Map());
  const rows = useMemo(
    () => (certs.data ?? []).map((c) => updated.get(c.serial) ?? c).sort((a, b) => (a.gatewayId < b.gatewayId ? -1 : a.gatewayId > b.gatewayId ? 1 : b.notBefore - a.notBefore)),
    [certs.data, updated],
  );
  // The clock ticks each second; the cells' "time left" needs only the day: columns change once a minute.
  const minute = Math.floor(now / 60_000);
  const columns = useMemo(() => certificateColumns(zone, minute * 60_000, setRevoking), [zone, minute]);
  if (certs.error?.code === 'OP_NO_CA') return <NoCa />;
  return (
    <section className="panel" aria-labelledby="certs-title">
      <h2 id="certs-title" className="panel-title">
        Gateway certificates <span className="muted">({rows.length})</span>
      </h2>
      <ErrorNote error={certs.error} />
      <DataTable
        label="Certificates"
        columns={columns}
        rows={rows}
        rowKey={(c) => c.serial}
        rowHeight={52}
        maxHeight={640}
        rowClassName={(c) => (c.status === 'revoked' ? 'row-muted' : undefined)}
        empty={certs.loading ? 'Loading…' : 'The CA has issued no gateway certificate.'}
      />
      {revoking && (
        <RevokeDialog
          cert={revoking}
          onClose={() => setRevoking(null)}
          onRevoked={(r) => {
            setUpdated((m) => new Map(m).set(r.serial, r));
          }}
        />
      )}
    </section>
  );
}

export function CertificatesView(): ReactNode {
  const info = useFleet((s) => s.info);
  return (
    <div className="view">
      <h1 className="view-title">Certificates</h1>
      {info === null ? <p className="muted">Loading…</p> : info.caConfigured ? <CertificateTable /> : <NoCa />}
    </div>
  );
}
