import type { ReactNode } from 'react';
import type { OperatorError } from '../api/operator-error.js';

/** A refused or failed call: its code (stable, searchable in docs/errors.md) and the hub's message. */
export function ErrorNote({ error, title }: { error: OperatorError | null | undefined; title?: string }): ReactNode {
  if (!error) return null;
  return (
    <div className="note note-error" role="alert">
      <strong>{title ?? 'Refused'}</strong> <code className="code">{error.code}</code> <span>{error.message}</span>
    </div>
  );
}
