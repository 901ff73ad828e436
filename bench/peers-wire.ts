/**
 * What both halves of the peers benchmark (bench/peers.ts, the gateways; bench/peers-server.ts, the
 * servers) agree on for the peers that bench/link-hub.ts does not serve: OCPP-J method and schemas,
 * MQTT topics, HTTP polling paths, and the gateway's answer. No side effects: both processes import it.
 */

/** The result frame every simulated gateway answers, the same 85 bytes as bench/link.ts's. */
export function resultFrame(id: string): string {
  return `<result v="1" id="${id}" st="ok" t="${Date.now()}" kw="12.5" relays="1:0 2:0 3:1"/>`;
}

/** Cuts the command id out of a command (or result) frame with indexOf: no XML parser on the gateway. */
export function cutId(text: string): string | undefined {
  const at = text.indexOf(' id="');
  if (at < 0) return undefined;
  const end = text.indexOf('"', at + 5);
  return end < 0 ? undefined : text.slice(at + 5, end);
}

// --- OCPP-J (ocpp-rpc) --------------------------------------------------------------------------------

/**
 * Our own subprotocol name: the shed command is not an OCPP 1.6 action, so the server validates it
 * against the two schemas below (ocpp-rpc strict mode), as the hub validates every result it decodes.
 */
export const OCPP_SUBPROTOCOL = 'lmgw-bench1';
export const OCPP_METHOD = 'Shed';
export const OCPP_PATH = '/ocpp';

/** The command's content, as in the XML command (op is the method name): channels, duration, deadline. */
export function ocppShedParams(): { ch: number[]; dur: number; dl: number } {
  return { ch: [1, 2], dur: 900, dl: Date.now() + 30_000 };
}

/** The result's content, as in the XML result (the id is OCPP-J's message id). */
export function ocppShedResult(): { st: string; t: number; kw: number; relays: string } {
  return { st: 'ok', t: Date.now(), kw: 12.5, relays: '1:0 2:0 3:1' };
}

export const OCPP_SCHEMAS = [
  {
    $id: `urn:${OCPP_METHOD}.req`,
    type: 'object',
    additionalProperties: false,
    required: ['ch', 'dur', 'dl'],
    properties: {
      ch: { type: 'array', minItems: 1, maxItems: 32, items: { type: 'integer', minimum: 1, maximum: 32 } },
      dur: { type: 'integer', minimum: 0, maximum: 86_400 },
      dl: { type: 'integer', minimum: 0 },
    },
  },
  {
    $id: `urn:${OCPP_METHOD}.conf`,
    type: 'object',
    additionalProperties: false,
    required: ['st', 't'],
    properties: {
      st: { type: 'string', enum: ['ok', 'failed', 'rejected', 'expired'] },
      t: { type: 'integer', minimum: 0 },
      kw: { type: 'number' },
      relays: { type: 'string', maxLength: 256 },
    },
  },
];

// --- MQTT ---------------------------------------------------------------------------------------------

export function mqttCommandTopic(gatewayId: string): string {
  return `gw/${gatewayId}/cmd`;
}
export function mqttResultTopic(gatewayId: string): string {
  return `gw/${gatewayId}/res`;
}
export const MQTT_RESULT_FILTER = 'gw/+/res';

// --- HTTPS polling --------------------------------------------------------------------------------------

/** GET: the commands pending for the caller (200, one frame per line) or none (204). */
export const POLL_PATH = '/poll';
/** POST: results, one frame per line; 204. */
export const RESULT_PATH = '/result';
/** GET: 204; the gateway's first request, which opens its keep-alive connection. */
export const HELLO_PATH = '/hello';
/** Long polling: the server answers 204 after holding a GET this long with nothing due. */
export const LONG_POLL_HOLD_MS = 30_000;
