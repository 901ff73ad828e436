import { type ErrorCode, LmgwError } from '../errors.js';
import { LIMITS, type ErrorMessage } from './messages.js';

/** The registry codes a ProtocolError may carry. */
export type ProtocolErrorCode = Extract<ErrorCode, `PROTO_${string}`>;

export interface ProtocolErrorDetails {
  /** Where in the message: `command@dl`, `hello/dev[0]/ch[2]@prio`, `error#text`; '' for the frame. */
  path?: string;
  /** The command id or telemetry seq of the message, when it was read before the problem. */
  ref?: string;
  cause?: unknown;
}

/**
 * A frame or message that breaks the protocol. decode throws nothing else, so a caller can answer
 * every bad frame with `err.toWire()` and keep the session.
 */
export class ProtocolError extends LmgwError {
  override readonly name: string = 'ProtocolError';
  declare readonly code: ProtocolErrorCode;
  readonly path: string;
  readonly ref: string | undefined;

  constructor(code: ProtocolErrorCode, message: string, details: ProtocolErrorDetails = {}) {
    super(code, message, details.cause === undefined ? undefined : { cause: details.cause });
    this.path = details.path ?? '';
    this.ref = details.ref;
  }

  /** The `error` message that reports this problem to the peer. */
  toWire(): ErrorMessage {
    const message = truncate(this.message, LIMITS.maxErrorMessageLength);
    return this.ref === undefined
      ? { kind: 'error', code: this.code, message }
      : { kind: 'error', code: this.code, ref: this.ref, message };
  }
}

/** Cuts at a code point boundary, so the result is still encodable (no lone surrogate). */
function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return text.slice(0, end);
}

/**
 * A problem with one field. The message names the field the way docs/protocol.md does:
 * `attribute dl of command: must be an integer`.
 */
export function fieldError(code: ProtocolErrorCode, path: string, problem: string, ref?: string): ProtocolError {
  return new ProtocolError(code, `${describePath(path)}: ${problem}`, { path, ref });
}

/** The path of an attribute: `at('command', 'dl')` is `command@dl`; without an attribute, `path` itself. */
export function at(path: string, attribute: string | undefined): string {
  return attribute === undefined ? path : `${path}@${attribute}`;
}

/** `command@dl` → `attribute dl of command`; `error#text` → `text of error`; element paths as they are. */
export function describePath(path: string): string {
  const at = path.lastIndexOf('@');
  if (at !== -1) return `attribute ${path.slice(at + 1)} of ${path.slice(0, at)}`;
  if (path.endsWith('#text')) return `text of ${path.slice(0, -5)}`;
  return path;
}

/** Input-derived names in messages are clipped, so an error never echoes a large part of a frame. */
export function clip(text: string): string {
  return text.length <= 32 ? text : `${text.slice(0, 32)}…`;
}
