/**
 * The parameters of every operator call, as zod schemas, and the one function that validates a call
 * before it reaches the OperatorService. Used by the browser-mode HTTP API (api-server.ts) and the
 * Electron IPC bridge alike, so nothing here knows about HTTP or IPC.
 *
 * Every object is strict (an unknown field is refused, never ignored), every number, string and list
 * is bounded, and ids follow the id rules of shared/. A refused call throws LmgwError OP_BAD_REQUEST
 * with a message naming the method and the field: `startShed: selector.maxPriority: must be at most 99`.
 */
import { z } from 'zod';
import { LmgwError } from '../../../shared/errors.js';
import { GATEWAY_ID_PATTERN } from '../../../shared/ids.js';
import { COMMAND_OPS, LABEL_PATTERN, LIMITS } from '../../../shared/protocol/messages.js';
import { REVOCATION_REASON_CHOICES, type AuditQuery, type BulkCommandRequest, type CommandRequest, type LoadHistoryQuery, type OperatorService, type ShedRequest } from './types.js';

/** The bounds of the operator calls, in one place (docs/operator-api.md lists them). */
export const OPERATOR_LIMITS = {
  /** `limit` of the list queries. */
  maxLimit: 10_000,
  /** Gateways one shed scope may name. */
  maxScopeGateways: 10_000,
  /** Channels a `channels` plan selector may name (every channel id there is). */
  maxSelectorChannels: LIMITS.maxChannelId,
  /** Channels one command may name (the protocol's limit). */
  maxCommandChannels: LIMITS.maxCommandChannels,
  minChannelId: LIMITS.minChannelId,
  maxChannelId: LIMITS.maxChannelId,
  minPriority: LIMITS.minPriority,
  maxPriority: LIMITS.maxPriority,
  /** targetKw of a selector or a target: > 0 and at most this. */
  maxKw: LIMITS.maxAbsKw,
  minShedSeconds: LIMITS.minShedSeconds,
  maxShedSeconds: LIMITS.maxShedSeconds,
  maxNoteLength: 500,
  maxOperatorLength: 128,
  maxTimeMs: LIMITS.maxTimeMs,
  /** The longest range loadHistory answers per resolution (ms): 2 h of seconds, 7 days of minutes, 400 days of quarter-hours. */
  maxHistorySpanMs: { '1s': 2 * 3_600_000, '1m': 7 * 86_400_000, '15m': 400 * 86_400_000 },
} as const;

/**
 * Ids of records the hub makes (shed events, alarms): letters, digits and `._:-`, starting with a
 * letter or digit, at most 128 characters. Safe in a URL, a file name and a log line.
 */
export const RECORD_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
/** Audit operation names: 'command', 'shed-event', 'restore-all', … */
export const OPERATION_NAME_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;
/**
 * Free text (a shed note, an operator name): no control characters (no line breaks to forge log
 * lines) and no bidirectional overrides (text that reads differently from what it is).
 */
const PLAIN_TEXT = /^[^\p{Cc}\u202A-\u202E\u2066-\u2069]*$/u;

// --- field builders (messages in our wording; validateCall prefixes method and field) ----------

function int(min: number, max: number) {
  return z.number().int('must be a whole number').min(min, `must be at least ${min}`).max(max, `must be at most ${max}`);
}

function kw() {
  return z.number().gt(0, 'must be greater than 0').max(OPERATOR_LIMITS.maxKw, `must be at most ${OPERATOR_LIMITS.maxKw}`);
}

function time() {
  return int(0, OPERATOR_LIMITS.maxTimeMs);
}

function pattern(re: RegExp, rule: string) {
  return z.string().regex(re, `must be ${rule}`);
}

const gatewayId = () => pattern(GATEWAY_ID_PATTERN, 'a gateway id (1-64 of a-z, 0-9, ".", "_", "-", starting with a letter or digit)');
const recordId = () => pattern(RECORD_ID_PATTERN, 'an id (1-128 of A-Z, a-z, 0-9, ".", "_", ":", "-", starting with a letter or digit)');
const limit = () => int(1, OPERATOR_LIMITS.maxLimit);

function plainText(max: number) {
  return z.string().max(max, `must be at most ${max} characters`).regex(PLAIN_TEXT, 'must not contain control or bidirectional-override characters');
}

/** A list of distinct whole numbers in [min, max], 1..maxItems long. */
function idList(min: number, max: number, maxItems: number) {
  return z
    .array(int(min, max))
    .min(1, 'must name at least one')
    .max(maxItems, `must name at most ${maxItems}`)
    .refine((a) => new Set(a).size === a.length, 'must not name one twice');
}

// --- shed requests -----------------------------------------------------------------------------

/** PlanSelector of shared/load/shed-plan.ts. */
export const PlanSelectorSchema = z.discriminatedUnion(
  'kind',
  [
    z.strictObject({
      kind: z.literal('channels'),
      channels: idList(OPERATOR_LIMITS.minChannelId, OPERATOR_LIMITS.maxChannelId, OPERATOR_LIMITS.maxSelectorChannels),
    }),
    z.strictObject({ kind: z.literal('priority'), maxPriority: int(OPERATOR_LIMITS.minPriority, OPERATOR_LIMITS.maxPriority) }),
    z.strictObject({ kind: z.literal('targetKw'), kw: kw() }),
  ],
  { error: 'must have kind "channels", "priority" or "targetKw"' },
);

export const ShedScopeSchema = z.discriminatedUnion(
  'kind',
  [
    z.strictObject({ kind: z.literal('gateway'), gatewayId: gatewayId() }),
    z.strictObject({
      kind: z.literal('gateways'),
      gatewayIds: z
        .array(gatewayId())
        .min(1, 'must name at least one')
        .max(OPERATOR_LIMITS.maxScopeGateways, `must name at most ${OPERATOR_LIMITS.maxScopeGateways}`)
        .refine((a) => new Set(a).size === a.length, 'must not name one twice'),
    }),
    z.strictObject({ kind: z.literal('label'), label: pattern(LABEL_PATTERN, 'a label (1-32 of a-z, 0-9, ".", "_", "-")') }),
    z.strictObject({ kind: z.literal('fleet') }),
  ],
  { error: 'must have kind "gateway", "gateways", "label" or "fleet"' },
);

export const ShedRequestSchema = z.strictObject({
  scope: ShedScopeSchema,
  selector: PlanSelectorSchema,
  durationSeconds: int(OPERATOR_LIMITS.minShedSeconds, OPERATOR_LIMITS.maxShedSeconds),
  note: plainText(OPERATOR_LIMITS.maxNoteLength).optional(),
});

// --- commands ----------------------------------------------------------------------------------

const commandOp = z.enum(COMMAND_OPS, { error: `must be one of ${COMMAND_OPS.map((o) => `"${o}"`).join(', ')}` });
const commandChannels = idList(OPERATOR_LIMITS.minChannelId, OPERATOR_LIMITS.maxChannelId, OPERATOR_LIMITS.maxCommandChannels);
const commandDuration = int(OPERATOR_LIMITS.minShedSeconds, OPERATOR_LIMITS.maxShedSeconds);

/**
 * The agent's operations: shed names channels (by priority is a shed event's job), restore names
 * channels or none (= all it shed), read names none. Only a shed has a duration.
 */
function checkCommand(c: { op: string; channels?: number[] | undefined; durationSeconds?: number | undefined }, ctx: z.RefinementCtx): void {
  if (c.op === 'shed' && c.channels === undefined) ctx.addIssue({ code: 'custom', path: ['channels'], message: 'is required for a shed' });
  if (c.op === 'read' && c.channels !== undefined) ctx.addIssue({ code: 'custom', path: ['channels'], message: 'is not allowed for a read' });
  if (c.op !== 'shed' && c.durationSeconds !== undefined) ctx.addIssue({ code: 'custom', path: ['durationSeconds'], message: `is not allowed for a ${c.op}` });
}

export const CommandRequestSchema = z
  .strictObject({ gatewayId: gatewayId(), op: commandOp, channels: commandChannels.optional(), durationSeconds: commandDuration.optional() })
  .superRefine(checkCommand);
export const BulkCommandRequestSchema = z
  .strictObject({ scope: ShedScopeSchema, op: commandOp, channels: commandChannels.optional(), durationSeconds: commandDuration.optional() })
  .superRefine(checkCommand);

// --- queries -----------------------------------------------------------------------------------

function hours(ms: number): string {
  return ms % 86_400_000 === 0 ? `${ms / 86_400_000} days` : `${ms / 3_600_000} h`;
}

export const LoadHistoryQuerySchema = z
  .strictObject({
    gatewayId: gatewayId().optional(),
    from: time(),
    to: time(),
    resolution: z.enum(['1s', '1m', '15m'], { error: 'must be one of "1s", "1m", "15m"' }),
  })
  .superRefine((q, ctx) => {
    if (q.to <= q.from) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: 'must be later than from' });
      return;
    }
    const max = OPERATOR_LIMITS.maxHistorySpanMs[q.resolution];
    if (q.to - q.from > max) {
      const wider = q.resolution === '1s' ? ' (use 1m or 15m for longer ranges)' : q.resolution === '1m' ? ' (use 15m for longer ranges)' : '';
      ctx.addIssue({
        code: 'custom',
        path: ['to'],
        message: `the range from..to may span at most ${hours(max)} at ${q.resolution} resolution${wider}`,
      });
    }
  });

export const AuditQuerySchema = z.strictObject({
  from: time().optional(),
  to: time().optional(),
  operator: plainText(OPERATOR_LIMITS.maxOperatorLength).min(1, 'must not be empty').optional(),
  operation: pattern(OPERATION_NAME_PATTERN, 'an operation name (a-z, 0-9, "-", at most 32)').optional(),
  limit: limit().optional(),
});

const Empty = z.strictObject({});

// --- the table ---------------------------------------------------------------------------------

export type OperatorMethodKind = 'query' | 'operation';

/**
 * Every callable method of OperatorService (all but `subscribe`, which is the event stream), with
 * its parameter schema. Queries take no operator context; operations get one and are audited.
 * The params are always one JSON object; see dispatch.ts for how each maps to the service's signature.
 */
export const OPERATOR_METHODS = {
  info: { kind: 'query', schema: Empty },
  fleet: { kind: 'query', schema: Empty },
  gateway: { kind: 'query', schema: z.strictObject({ gatewayId: gatewayId() }) },
  loadHistory: { kind: 'query', schema: LoadHistoryQuerySchema },
  commands: { kind: 'query', schema: z.strictObject({ gatewayId: gatewayId().optional(), eventId: recordId().optional(), limit: limit().optional() }) },
  shedEvents: { kind: 'query', schema: z.strictObject({ activeOnly: z.boolean().optional(), limit: limit().optional() }) },
  shedEvent: { kind: 'query', schema: z.strictObject({ eventId: recordId() }) },
  audit: { kind: 'query', schema: AuditQuerySchema },
  securityEvents: { kind: 'query', schema: z.strictObject({ since: time().optional(), limit: limit().optional() }) },
  alarms: { kind: 'query', schema: z.strictObject({ openOnly: z.boolean().optional() }) },
  connections: { kind: 'query', schema: z.strictObject({ gatewayId: gatewayId().optional(), limit: limit().optional() }) },
  previewShed: { kind: 'query', schema: ShedRequestSchema },
  certificates: { kind: 'query', schema: Empty },

  startShed: { kind: 'operation', schema: ShedRequestSchema },
  cancelShed: { kind: 'operation', schema: z.strictObject({ eventId: recordId() }) },
  restoreAll: { kind: 'operation', schema: Empty },
  command: { kind: 'operation', schema: CommandRequestSchema },
  commandMany: { kind: 'operation', schema: BulkCommandRequestSchema },
  acknowledgeAlarm: { kind: 'operation', schema: z.strictObject({ alarmId: recordId() }) },
  setTarget: { kind: 'operation', schema: z.strictObject({ gatewayId: gatewayId().optional(), targetKw: kw().nullable() }) },
  revokeCertificate: {
    kind: 'operation',
    schema: z.strictObject({
      serial: z.string().regex(/^[0-9a-fA-F:]{1,128}$/, 'must be a certificate serial in hex'),
      reason: z.enum(REVOCATION_REASON_CHOICES, { error: `must be one of ${REVOCATION_REASON_CHOICES.join(', ')}` }),
    }),
  },
} as const satisfies Record<Exclude<keyof OperatorService, 'subscribe' | 'watch' | 'durable'>, { kind: OperatorMethodKind; schema: z.ZodType }>;

export type OperatorMethod = keyof typeof OPERATOR_METHODS;
export type OperatorParams<M extends OperatorMethod> = z.output<(typeof OPERATOR_METHODS)[M]['schema']>;
/** A validated call: the method and its params, typed together. */
export type OperatorCall = { [M in OperatorMethod]: { method: M; params: OperatorParams<M> } }[OperatorMethod];

// The schemas produce exactly what the service takes (a compile error here means they drifted apart).
type Assignable<A, B> = [A] extends [B] ? true : never;
const _shapes: [
  Assignable<OperatorParams<'startShed'>, ShedRequest>,
  Assignable<OperatorParams<'command'>, CommandRequest>,
  Assignable<OperatorParams<'commandMany'>, BulkCommandRequest>,
  Assignable<OperatorParams<'loadHistory'>, LoadHistoryQuery>,
  Assignable<OperatorParams<'audit'>, AuditQuery>,
  Assignable<OperatorParams<'commands'>, Parameters<OperatorService['commands']>[0]>,
  Assignable<OperatorParams<'shedEvents'>, Parameters<OperatorService['shedEvents']>[0]>,
  Assignable<OperatorParams<'securityEvents'>, Parameters<OperatorService['securityEvents']>[0]>,
  Assignable<OperatorParams<'alarms'>, Parameters<OperatorService['alarms']>[0]>,
  Assignable<OperatorParams<'connections'>, Parameters<OperatorService['connections']>[0]>,
  Assignable<OperatorParams<'setTarget'>, Parameters<OperatorService['setTarget']>[1]>,
  Assignable<OperatorParams<'revokeCertificate'>, Parameters<OperatorService['revokeCertificate']>[1]>,
] = [true, true, true, true, true, true, true, true, true, true, true, true];
void _shapes;

export function isOperatorMethod(method: string): method is OperatorMethod {
  return Object.prototype.hasOwnProperty.call(OPERATOR_METHODS, method);
}

const EXPECTED: Record<string, string> = {
  number: 'a number',
  int: 'a whole number',
  string: 'a string',
  boolean: 'true or false',
  object: 'an object',
  array: 'an array',
  null: 'null',
};

function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String).join('.');
  const at = (field: string): string => (field ? `${field}: ` : '');
  if (issue.code === 'unrecognized_keys') return issue.keys.map((k) => `${at(path ? `${path}.${k}` : k)}is not a known field`).join('; ');
  if (issue.code === 'invalid_type') {
    return issue.input === undefined ? `${at(path)}is required` : `${at(path)}must be ${EXPECTED[issue.expected] ?? issue.expected}`;
  }
  return `${at(path)}${issue.message}`;
}

/**
 * Checks one call: the method must be one of OPERATOR_METHODS and the params must satisfy its
 * schema (absent params count as `{}`). Returns the parsed params (only known fields). Throws
 * LmgwError OP_BAD_REQUEST naming the method and each field at fault.
 */
export function validateCall(method: string, params: unknown): OperatorCall {
  if (!isOperatorMethod(method)) {
    const shown = /^[A-Za-z][A-Za-z0-9]{0,63}$/.test(method) ? `"${method}"` : 'the name given';
    throw new LmgwError('OP_BAD_REQUEST', `${shown} is not an operator method (known: ${Object.keys(OPERATOR_METHODS).join(', ')})`);
  }
  const input = params === undefined ? {} : params;
  const result = OPERATOR_METHODS[method].schema.safeParse(input, { reportInput: true });
  if (!result.success) {
    const problems = result.error.issues.map(describeIssue);
    throw new LmgwError('OP_BAD_REQUEST', `${method}: ${problems.join('; ')}`);
  }
  // safeParse of OPERATOR_METHODS[method] yields that method's params; TypeScript cannot correlate the two.
  return { method, params: result.data } as OperatorCall;
}
