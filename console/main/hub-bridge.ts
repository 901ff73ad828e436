/**
 * One operator call in, one BridgeReply out: the hub side of the desktop app's bridge. It validates
 * the call itself (validateCall), whatever main already checked, then runs it on the service
 * (invokeOperatorCall) as the desktop's operator. Errors travel as data: an LmgwError keeps its code
 * and message; anything else answers OP_INTERNAL with a reference, its details only in the log
 * (the browser-mode API does the same).
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { LmgwError } from '../../shared/errors.js';
import type { BridgeReply } from '../../shared/operator-bridge.js';
import { invokeOperatorCall } from '../hub/operator/dispatch.js';
import { OPERATOR_METHODS, validateCall } from '../hub/operator/schemas.js';
import type { OperatorContext, OperatorService } from '../hub/operator/types.js';

export interface HubBridge {
  /** `call` is `{ method, params }` as it came over IPC; never rejects. */
  handle(call: unknown): Promise<BridgeReply>;
}

export function refusal(code: string, message: string): BridgeReply {
  return { ok: false, error: { code, message } };
}

/** The call's method and params, or a refusal when it is not `{ method: string, params? }`. */
export function splitCall(call: unknown): { method: string; params: unknown } | BridgeReply {
  if (typeof call !== 'object' || call === null || Array.isArray(call)) return refusal('OP_BAD_REQUEST', 'a call is an object { method, params }');
  const keys = Object.keys(call);
  const extra = keys.filter((k) => k !== 'method' && k !== 'params');
  if (extra.length > 0) return refusal('OP_BAD_REQUEST', `a call is { method, params }; ${extra.length === 1 ? 'this field is' : 'these fields are'} not known: ${extra.slice(0, 5).join(', ')}`);
  const { method, params } = call as { method?: unknown; params?: unknown };
  if (typeof method !== 'string') return refusal('OP_BAD_REQUEST', 'a call needs method: a string');
  return { method, params };
}

export function createHubBridge(service: OperatorService, ctx: OperatorContext, log?: Logger): HubBridge {
  return {
    async handle(call: unknown): Promise<BridgeReply> {
      const parts = splitCall(call);
      if ('ok' in parts) return parts;
      try {
        const valid = validateCall(parts.method, parts.params);
        if (OPERATOR_METHODS[valid.method].kind === 'operation') log?.info({ method: valid.method, operator: ctx.operator }, `operation ${valid.method}`);
        const result = await invokeOperatorCall(service, ctx, valid);
        return { ok: true, result: result ?? null };
      } catch (err) {
        if (err instanceof LmgwError) {
          log?.info({ method: parts.method, code: err.code }, `call refused: ${err.message}`);
          return refusal(err.code, err.message);
        }
        const ref = randomBytes(6).toString('hex');
        log?.error({ err, ref, method: parts.method }, `internal error in ${parts.method} (ref ${ref})`);
        return refusal('OP_INTERNAL', `internal error (ref ${ref}); the hub log has the details`);
      }
    },
  };
}
