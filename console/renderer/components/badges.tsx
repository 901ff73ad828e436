import type { ReactNode } from 'react';
import type { AlarmSeverity, CertificateStatus, CommandState, ConnectionState } from '../../hub/operator/types.js';

/** Status in words with a colour and a shape, never colour alone. */
export function StateBadge({ state }: { state: ConnectionState }): ReactNode {
  return (
    <span className={`badge badge-${state === 'connected' ? 'ok' : 'bad'}`}>
      <span className="dot" aria-hidden="true" />
      {state}
    </span>
  );
}

const COMMAND_TONE: Record<CommandState, string> = {
  requested: 'info',
  sent: 'info',
  confirmed: 'ok',
  rejected: 'warn',
  failed: 'bad',
  expired: 'warn',
  'timed-out': 'bad',
  cancelled: 'info',
};

export function CommandStateBadge({ state }: { state: CommandState }): ReactNode {
  return <span className={`badge badge-${COMMAND_TONE[state]}`}>{state}</span>;
}

export function SeverityBadge({ severity }: { severity: AlarmSeverity }): ReactNode {
  return (
    <span className={`badge badge-${severity === 'alarm' ? 'bad' : 'warn'}`}>
      <span className="icon" aria-hidden="true">
        {severity === 'alarm' ? '▲' : '●'}
      </span>
      {severity}
    </span>
  );
}

export function CertStatusBadge({ status }: { status: CertificateStatus }): ReactNode {
  return <span className={`badge badge-${status === 'valid' ? 'ok' : status === 'revoked' ? 'bad' : 'warn'}`}>{status}</span>;
}
