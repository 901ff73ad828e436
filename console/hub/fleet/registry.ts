/**
 * The fleet registry: every gateway ever seen, with what the operator needs at a glance — identity,
 * site, certificate, agent version, device profile with live relay states, connection state and since
 * when, round trip, proxy flag, latest telemetry and LM health. The store keeps it across restarts;
 * memory holds the live view.
 *
 * Site name and labels come from the hub's config when it names the gateway (the DSO's word wins),
 * else from the agent's hello.
 */
import type { PlanGateway } from '../../../shared/load/shed-plan.js';
import type { ChannelProfile, DeviceProfile, Health, RelayState, TelemetrySample } from '../../../shared/protocol/messages.js';
import type { SessionInfo } from '../link/server.js';
import type { ChannelView, DeviceView } from '../operator/types.js';
import type { GatewayRow, HubStore } from '../store/index.js';

/** What the hub's config says about a site. */
export interface SiteConfig {
  name?: string;
  labels?: string[];
  targetKw?: number;
}

export interface GatewayState {
  row: GatewayRow;
  /** The live session; undefined while offline. */
  session: SessionInfo | undefined;
  devices: DeviceView[];
  /** When each channel was last seen switching on (for minimum on times in shed planning). */
  onSince: Map<number, number>;
  rttMs: number | null;
  lastTelemetryAt: number | null;
  /** The gateway's time of the newest relay states applied (a read-back or a sample): older ones are not. */
  relaysAt: number | null;
}

const HEALTH_ORDER: readonly Health[] = ['ok', 'degraded', 'offline'];

/**
 * Relay states up to this much older than the newest applied are stale (not applied): a sample taken
 * before a command's read-back, sampled up to a second before it was sent and fed ~100–350 ms after
 * it arrived (the telemetry group commit, longer while a fleet operation is in flight).
 */
export const STALE_RELAYS_MS = 5_000;

function devicesOf(devices: readonly DeviceProfile[]): DeviceView[] {
  return devices.map((d) => ({
    id: d.id,
    model: d.model,
    health: d.health,
    channels: d.channels.map((c: ChannelProfile): ChannelView => ({ ...c, deviceId: d.id, on: c.on })),
  }));
}

/**
 * How a disconnection reaches the store: at once by default; the hub passes its bookkeeping group
 * commit, so 2,000 gateways dropping at once cost a few commits, not 2,000. A connection is
 * written at once: a command may follow within milliseconds, and its audit record must not name a
 * gateway the store does not know after a crash.
 */
export type RowWriter = (write: () => void) => void;

export class FleetRegistry {
  private readonly gateways = new Map<string, GatewayState>();
  private readonly channelIndex = new WeakMap<DeviceView[], Map<number, ChannelView>>();
  private readonly write: RowWriter;

  constructor(
    private readonly store: HubStore,
    private readonly sites: Readonly<Record<string, SiteConfig>>,
    private readonly now: () => number = Date.now,
    write?: RowWriter,
  ) {
    this.write = write ?? ((w) => w());
    for (const row of store.listGateways()) {
      // Whatever the store says, nobody is connected to a hub that has just started.
      const fixed: GatewayRow = row.state === 'connected' ? { ...row, state: 'offline', since: Math.max(row.lastSeen, row.since) } : row;
      if (fixed !== row) store.upsertGateway(fixed);
      this.gateways.set(row.gatewayId, {
        row: fixed,
        session: undefined,
        devices: devicesOf(row.hello?.devices ?? []),
        onSince: new Map(),
        rttMs: null,
        lastTelemetryAt: null,
        relaysAt: null,
      });
    }
  }

  ids(): string[] {
    return [...this.gateways.keys()].sort();
  }

  /** Gateways known, without listing them. */
  get size(): number {
    return this.gateways.size;
  }

  get(gatewayId: string): GatewayState | undefined {
    return this.gateways.get(gatewayId);
  }

  all(): GatewayState[] {
    return this.ids().map((id) => this.gateways.get(id) as GatewayState);
  }

  siteName(g: GatewayState): string {
    return this.sites[g.row.gatewayId]?.name ?? g.row.siteName ?? g.row.gatewayId;
  }

  labels(g: GatewayState): string[] {
    return this.sites[g.row.gatewayId]?.labels ?? g.row.labels;
  }

  connected(info: SessionInfo): GatewayState {
    const t = this.now();
    const old = this.gateways.get(info.gatewayId);
    const notAfter = info.peer.notAfter ? Date.parse(info.peer.notAfter) : NaN;
    const row: GatewayRow = {
      gatewayId: info.gatewayId,
      siteName: info.hello.siteName ?? null,
      labels: [...info.hello.labels],
      firstSeen: old?.row.firstSeen ?? t,
      lastSeen: t,
      state: 'connected',
      since: old?.row.state === 'connected' ? old.row.since : t,
      agentVersion: info.hello.agentVersion,
      certSerial: info.peer.serial,
      certSubject: info.peer.subject ?? null,
      certNotAfter: Number.isFinite(notAfter) ? notAfter : null,
      hello: info.hello,
      viaProxy: info.hello.viaProxy,
      interceptionSuspected: old?.row.interceptionSuspected ?? false,
      remoteAddress: info.remoteAddress,
      targetKw: old?.row.targetKw ?? null,
    };
    this.store.upsertGateway(row);
    const state: GatewayState = {
      row,
      session: info,
      devices: devicesOf(info.hello.devices),
      onSince: old?.onSince ?? new Map<number, number>(),
      rttMs: old?.rttMs ?? null,
      lastTelemetryAt: old?.lastTelemetryAt ?? null,
      relaysAt: old?.relaysAt ?? null,
    };
    this.gateways.set(info.gatewayId, state);
    return state;
  }

  /** Returns the gateway when this was its current session (a replaced session's end changes nothing). */
  disconnected(info: SessionInfo): GatewayState | undefined {
    const g = this.gateways.get(info.gatewayId);
    if (!g || g.session?.sessionId !== info.sessionId) return undefined;
    const t = this.now();
    g.session = undefined;
    g.row = { ...g.row, state: 'offline', since: t, lastSeen: t };
    // The row as it is when the group commits: a quick return has written a newer one meanwhile.
    this.write(() => {
      const current = this.gateways.get(info.gatewayId)?.row;
      if (current) this.store.upsertGateway(current);
    });
    return g;
  }

  /** Relay states and per-channel power from telemetry or a read-back. */
  observe(gatewayId: string, relays: readonly RelayState[], at: number, channelKw?: TelemetrySample['channelKw']): boolean {
    const g = this.gateways.get(gatewayId);
    if (!g) return false;
    let changed = false;
    const byId = this.channelsById(g.devices);
    // The newest state wins: a sample taken before a command's read-back can arrive here after it
    // (telemetry feeds the live figures once its group is committed, ~100 ms after it arrived), and
    // would show a channel just restored as off again until the next sample. Only within
    // STALE_RELAYS_MS: further back it is the gateway's clock that was stepped back, and its states
    // count again (else they would be ignored until its clock caught up).
    const stale = g.relaysAt !== null && at < g.relaysAt && g.relaysAt - at < STALE_RELAYS_MS;
    if (!stale) g.relaysAt = at;
    for (const r of stale ? [] : relays) {
      const ch = byId.get(r.channel);
      if (!ch || ch.on === r.on) continue;
      // Only a switch-on the hub saw happen dates the channel; one seen on at connect is of unknown age
      // (the agent, which knows, enforces the minimum on time anyway).
      if (r.on && ch.on === false) g.onSince.set(r.channel, at);
      else g.onSince.delete(r.channel);
      ch.on = r.on;
      changed = true;
    }
    for (const p of channelKw ?? []) {
      const ch = byId.get(p.channel);
      if (ch) ch.kw = p.kw;
    }
    return changed;
  }

  /** The channels of a gateway's devices by id, built once per devices list (observe runs for every telemetry batch). */
  private channelsById(devices: DeviceView[]): Map<number, ChannelView> {
    let byId = this.channelIndex.get(devices);
    if (byId === undefined) {
      byId = new Map(devices.flatMap((d) => d.channels).map((c) => [c.id, c]));
      this.channelIndex.set(devices, byId);
    }
    return byId;
  }

  telemetry(gatewayId: string, samples: readonly TelemetrySample[]): boolean {
    const g = this.gateways.get(gatewayId);
    const last = samples[samples.length - 1];
    if (!g || !last) return false;
    if (g.lastTelemetryAt !== null && last.time < g.lastTelemetryAt) return false; // a replay of old batches
    g.lastTelemetryAt = last.time;
    return this.observe(gatewayId, last.relays, last.time, last.channelKw);
  }

  setHealth(gatewayId: string, deviceId: string, health: Health): boolean {
    const d = this.gateways.get(gatewayId)?.devices.find((x) => x.id === deviceId);
    if (!d || d.health === health) return false;
    d.health = health;
    return true;
  }

  /** The worst health of the gateway's load managers; null before any hello. */
  lmHealth(g: GatewayState): Health | null {
    if (g.devices.length === 0) return null;
    return g.devices.reduce<Health>((worst, d) => (HEALTH_ORDER.indexOf(d.health) > HEALTH_ORDER.indexOf(worst) ? d.health : worst), 'ok');
  }

  setRtt(gatewayId: string, ms: number): void {
    const g = this.gateways.get(gatewayId);
    if (g) g.rttMs = ms;
  }

  setInterception(gatewayId: string, suspected: boolean): void {
    const g = this.gateways.get(gatewayId);
    if (!g || g.row.interceptionSuspected === suspected) return;
    g.row = { ...g.row, interceptionSuspected: suspected };
    this.store.upsertGateway(g.row);
  }

  setTarget(gatewayId: string, kw: number | null): void {
    const g = this.gateways.get(gatewayId);
    if (!g) return;
    g.row = { ...g.row, targetKw: kw };
    this.store.upsertGateway(g.row);
  }

  /** What shed planning needs to know about these gateways. */
  planGateways(ids: readonly string[], kwOf: (gatewayId: string, channel: ChannelView) => number | undefined): PlanGateway[] {
    return ids.flatMap((id) => {
      const g = this.gateways.get(id);
      if (!g) return [];
      return [
        {
          gatewayId: id,
          connected: g.session !== undefined,
          channels: g.devices.flatMap((d) =>
            d.channels.map((c) => {
              // Optional fields assigned, not spread: this runs for every channel of a fleet-wide plan.
              const ch: PlanGateway['channels'][number] = {
                id: c.id,
                name: c.name,
                priority: c.priority,
                sheddable: c.sheddable,
                ratedKw: c.ratedKw,
                on: c.on,
                minOnSeconds: c.minOnSeconds,
              };
              const onSinceMs = g.onSince.get(c.id);
              if (onSinceMs !== undefined) ch.onSinceMs = onSinceMs;
              const kw = kwOf(id, c);
              if (kw !== undefined) ch.kw = kw;
              return ch;
            }),
          ),
        },
      ];
    });
  }
}
