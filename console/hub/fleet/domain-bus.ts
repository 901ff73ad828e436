/**
 * The hub's one domain event bus: how its parts hear of each other's changes without holding each
 * other (the dispatcher does not know shed events, nor either the operator service). A command's
 * final state is emitted after it is committed; bookkeeping (gateway rows, alarms) is emitted as it
 * changes in memory and reaches the store with the next group (a few ms later). A listener that
 * throws is logged and does not stop the others, nor the part that emitted.
 */
import type { Logger } from 'pino';
import { TypedEvents } from '../../../shared/typed-events.js';
import type { AlarmRecord, CommandRecord, SecurityEventRecord, ShedEventSummary } from '../operator/types.js';

export type DomainEvents = {
  /** A command's state changed. `bulk`: one of the many commands of one operation (an event, restore all). */
  command: [command: CommandRecord, bulk: boolean];
  /** Something in a gateway's summary may have changed (state, profile, relays, alarms, holds). */
  'gateway-changed': [gatewayId: string];
  /** A shed event's state or outcome counts changed. */
  'shed-event': [event: ShedEventSummary];
  alarm: [alarm: AlarmRecord];
  security: [event: SecurityEventRecord];
  /**
   * A group of telemetry batches was committed and acknowledged. `samples`: new samples stored (a
   * replayed batch already stored is acked again, not counted). `lagMs`: from the arrival of the
   * group's first batch to its acks (the longest any batch of the group waited).
   */
  'telemetry-stored': [group: { batches: number; samples: number; lagMs: number }];
};

export type DomainBus = TypedEvents<DomainEvents>;

export function createDomainBus(log: Logger): DomainBus {
  return new TypedEvents<DomainEvents>((err) => log.error({ err }, 'a domain event listener failed'));
}
