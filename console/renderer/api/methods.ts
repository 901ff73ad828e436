/**
 * The operator calls as they travel (docs/operator-api.md): every OperatorService method but
 * `subscribe` and `watch` (the event stream's), its params as one JSON object, its result as the service returns it. Derived from the
 * contract (console/hub/operator/types.ts), so a change there shows up here as a type error.
 */
import type { OperatorContext, OperatorService } from '../../hub/operator/types.js';

export type OperatorMethod = Exclude<keyof OperatorService, 'subscribe' | 'watch' | 'durable'>;

/** The methods that take a bare id in the service but `{ <name>: id }` on the wire. */
interface IdParams {
  gateway: { gatewayId: string };
  cancelShed: { eventId: string };
  shedEvent: { eventId: string };
  acknowledgeAlarm: { alarmId: string };
}

type Empty = Record<string, never>;

/** Params of a service method without the operator context (the transport adds who is calling). */
type ServiceParams<F> = F extends (...args: infer A) => unknown
  ? A extends []
    ? Empty
    : A extends [OperatorContext]
      ? Empty
      : A extends [OperatorContext, infer P]
        ? P
        : A extends [infer P]
          ? P
          : never
  : never;

export type OperatorParams<M extends OperatorMethod> = M extends keyof IdParams ? IdParams[M] : ServiceParams<OperatorService[M]>;

/** What the call resolves with; `setTarget` answers null on the wire. */
export type OperatorResult<M extends OperatorMethod> = Awaited<ReturnType<OperatorService[M]>> extends void ? null : Awaited<ReturnType<OperatorService[M]>>;

/** Methods that change something (audited, confirmed by the operator in the UI). */
export const OPERATIONS: ReadonlySet<OperatorMethod> = new Set<OperatorMethod>([
  'startShed',
  'cancelShed',
  'restoreAll',
  'command',
  'commandMany',
  'acknowledgeAlarm',
  'revokeCertificate',
  'setTarget',
]);
