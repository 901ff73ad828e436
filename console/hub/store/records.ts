/**
 * What the JSON columns must hold, checked on every read: a row that does not parse is reported as
 * STORE_UNAVAILABLE naming the table, the row and the column, instead of surfacing later as an
 * `undefined` deep inside the hub or the UI.
 *
 * Structure is checked strictly (types, required fields, enums the code switches on); free text the
 * UI only shows — an error code, a skip reason — is accepted as any string of the right shape, so a
 * record written by an older hub stays readable after a code or reason is renamed.
 */
import { z } from 'zod';
import type { ErrorCode } from '../../../shared/errors.js';
import type { PlanSelector, SkipReason } from '../../../shared/load/shed-plan.js';
import { COMMAND_OPS, HEALTHS, type HelloMessage } from '../../../shared/protocol/messages.js';
import type { AlarmRecord, CommandRecord } from '../operator/types.js';
import { storeUnavailable } from './db.js';

const finite = z.number().finite();
const time = z.number().int();
const ERROR_CODE_SHAPE = /^[A-Z][A-Z0-9_]*$/;
const errorCode = z.custom<ErrorCode>((v) => typeof v === 'string' && ERROR_CODE_SHAPE.test(v), 'not an error code');
const relayState = z.object({ channel: z.number().int(), on: z.boolean() });

const COMMAND_STATES = ['requested', 'sent', 'confirmed', 'rejected', 'failed', 'expired', 'timed-out', 'cancelled'] as const;

export const commandRecord: z.ZodType<CommandRecord> = z.object({
  id: z.string().min(1),
  gatewayId: z.string().min(1),
  op: z.enum(COMMAND_OPS),
  channels: z.array(z.number().int()).optional(),
  maxPriority: z.number().int().optional(),
  all: z.boolean().optional(),
  durationSeconds: finite.optional(),
  eventId: z.string().optional(),
  operator: z.string(),
  state: z.enum(COMMAND_STATES),
  requestedAt: time,
  sentAt: time.optional(),
  finishedAt: time.optional(),
  deadline: time,
  code: errorCode.optional(),
  message: z.string().optional(),
  readBack: z.array(relayState).optional(),
  measuredKw: finite.optional(),
});

const shedScope = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('gateway'), gatewayId: z.string() }),
  z.object({ kind: z.literal('gateways'), gatewayIds: z.array(z.string()) }),
  z.object({ kind: z.literal('label'), label: z.string() }),
  z.object({ kind: z.literal('fleet') }),
]);

const planSelector: z.ZodType<PlanSelector> = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('channels'), channels: z.array(z.number().int()) }),
  z.object({ kind: z.literal('priority'), maxPriority: finite }),
  z.object({ kind: z.literal('targetKw'), kw: finite }),
]);

const skipReason = z.custom<SkipReason>((v) => typeof v === 'string', 'not a skip reason');

/** A shed event's header as stored (schema 1 events lack the figures derived at creation). */
export const shedEventHeader = z.object({
  id: z.string().min(1),
  operator: z.string(),
  createdAt: time,
  scope: shedScope,
  selector: planSelector,
  durationSeconds: finite,
  note: z.string().optional(),
  endsAt: time,
  state: z.enum(['active', 'ended', 'cancelled', 'failed']),
  plannedKw: finite,
  targetKw: finite.optional(),
  shortfallKw: finite.optional(),
  gatewayCount: z.number().int().optional(),
  skippedCount: z.number().int().optional(),
  skippedByReason: z.record(z.string(), z.number().int()).optional(),
  cancelledBy: z.string().optional(),
  cancelledAt: time.optional(),
});

export const shedSkipped = z.array(z.object({ gatewayId: z.string(), channel: z.number().int().optional(), reason: skipReason, detail: z.string() }));
export const shedOutcomeChannels = z.array(z.number().int());

export const alarmRecord: z.ZodType<AlarmRecord> = z.object({
  id: z.string().min(1),
  code: z.string(),
  severity: z.enum(['warning', 'alarm']),
  gatewayId: z.string().optional(),
  message: z.string(),
  raisedAt: time,
  clearedAt: time.optional(),
  acknowledgedBy: z.string().optional(),
  acknowledgedAt: time.optional(),
});

export const helloMessage: z.ZodType<HelloMessage> = z.object({
  kind: z.literal('hello'),
  gatewayId: z.string(),
  minVersion: z.number().int(),
  maxVersion: z.number().int(),
  agentVersion: z.string(),
  siteName: z.string().optional(),
  labels: z.array(z.string()),
  viaProxy: z.boolean(),
  devices: z.array(
    z.object({
      id: z.string(),
      model: z.string(),
      health: z.enum(HEALTHS),
      channels: z.array(
        z.object({
          id: z.number().int(),
          name: z.string(),
          priority: z.number().int(),
          sheddable: z.boolean(),
          ratedKw: finite,
          minOnSeconds: finite,
          minOffSeconds: finite,
          maxOffSeconds: finite.optional(),
          on: z.boolean().optional(),
        }),
      ),
    }),
  ),
});

export const stringList = z.array(z.string());
export const jsonObject = z.record(z.string(), z.unknown());
/** [[channel, 0|1], …] */
export const compactRelays = z.array(z.tuple([z.number().int(), z.union([z.literal(0), z.literal(1)])]));

/** Where a value was read from, for the error message. */
export interface RowRef {
  path: string;
  table: string;
  row: string | number;
  column: string;
}

/** Parses a JSON column and checks it against `schema`; STORE_UNAVAILABLE naming the row when either fails. */
export function decodeJson<T>(ref: RowRef, text: string, schema: z.ZodType<T>): T {
  const doing = `reading table ${ref.table}, row ${String(ref.row)}`;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw storeUnavailable(ref.path, doing, new Error(`column ${ref.column} is not JSON (${(err as Error).message})`, { cause: err }));
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` at ${issue.path.map(String).join('.')}` : '';
    throw storeUnavailable(ref.path, doing, new Error(`column ${ref.column} does not hold what it should${where}: ${issue?.message ?? 'invalid'}`));
  }
  return result.data;
}

/** An error code read from a plain column: any code-shaped string (see the top of this file). */
export function errorCodeColumn(ref: RowRef, value: string): ErrorCode {
  const result = errorCode.safeParse(value);
  if (!result.success) throw rowMismatch(ref, `column ${ref.column} holds ${JSON.stringify(value)}, not an error code`);
  return result.data;
}

/** A corrupt row whose JSON parsed but contradicts its indexed columns. */
export function rowMismatch(ref: RowRef, detail: string): Error {
  return storeUnavailable(ref.path, `reading table ${ref.table}, row ${String(ref.row)}`, new Error(detail));
}
