/**
 * A refused or failed operator call, as the UI shows it: the hub's stable code and its message
 * (docs/errors.md). Transport failures get codes of their own (UI_…), so every error on screen has one.
 */
export class OperatorError extends Error {
  override readonly name = 'OperatorError';

  constructor(
    readonly code: string,
    message: string,
    /** HTTP status in browser mode, when there was an answer. */
    readonly status?: number,
  ) {
    super(message);
  }
}

/** No answer at all: the hub is down or the network failed. */
export const UI_UNREACHABLE = 'UI_UNREACHABLE';
/** An answer that is not the API's JSON. */
export const UI_BAD_ANSWER = 'UI_BAD_ANSWER';

/** Any thrown value as an OperatorError (a bridge rejects with an Error carrying `code`). */
export function toOperatorError(err: unknown): OperatorError {
  if (err instanceof OperatorError) return err;
  if (err instanceof Error) {
    const code = (err as Error & { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return new OperatorError(code, err.message);
    // Electron's contextBridge keeps only an Error's message (electron/electron#25596), so the preload
    // writes the code in front of it: "OP_BAD_REQUEST: startShed: …".
    const prefixed = /^([A-Z][A-Z0-9]*_[A-Z0-9_]+): ([\s\S]*)$/.exec(err.message);
    if (prefixed?.[1] && prefixed[2] !== undefined) return new OperatorError(prefixed[1], prefixed[2]);
    return new OperatorError('UI_ERROR', err.message);
  }
  return new OperatorError('UI_ERROR', String(err));
}
