/**
 * What the hub and the agent agree on about the link, beside the XML vocabulary: the endpoint path,
 * the TLS profile, WebSocket close codes with their error codes, and default intervals.
 */
import type { ErrorCode } from './errors.js';

/** The WebSocket endpoint on the hub. */
export const LINK_PATH = '/lmgw/v1';
export const DEFAULT_HUB_PORT = 8443;

/**
 * The TLS profile (DESIGN.md, security profile): TLS 1.3 preferred, 1.2 minimum, ECDHE with AEAD
 * only, P-256 ECDSA certificates. TLS 1.3 suites are all AEAD; the 1.2 list is restricted to
 * ECDHE-ECDSA with AES-GCM or ChaCha20-Poly1305. Compression is off in Node's OpenSSL build.
 */
export const TLS_PROFILE = Object.freeze({
  minVersion: 'TLSv1.2',
  maxVersion: 'TLSv1.3',
  ciphers: [
    'TLS_AES_128_GCM_SHA256',
    'TLS_AES_256_GCM_SHA384',
    'TLS_CHACHA20_POLY1305_SHA256',
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-CHACHA20-POLY1305',
  ].join(':'),
  ecdhCurve: 'X25519:P-256:P-384',
  sigalgs: 'ecdsa_secp256r1_sha256:ecdsa_secp384r1_sha384:ed25519',
} as const);

/** Header on an HTTP refusal of the upgrade naming the reason, so the agent can log it exactly. */
export const REFUSAL_HEADER = 'x-lmgw-refusal';

/**
 * Application close codes (4000–4999 are free for applications, RFC 6455 §7.4.2). The reason text
 * of the close frame is the error code.
 */
export const CLOSE_CODES = {
  LINK_REPLACED: 4000,
  LINK_CERT_REVOKED: 4001,
  LINK_IDENTITY_MISMATCH: 4003,
  LINK_RATE_LIMITED: 4008,
  LINK_HELLO_TIMEOUT: 4009,
  LINK_VERSION_MISMATCH: 4010,
  LINK_PROTOCOL: 4011,
  LINK_SHUTDOWN: 4012,
  LINK_PONG_TIMEOUT: 4013,
} as const satisfies Partial<Record<ErrorCode, number>>;

export const LINK_DEFAULTS = Object.freeze({
  /**
   * The hub looks at every session once per interval: it pings one unless messages went both ways
   * since the last look, and cuts one it heard nothing from (message or pong) for two intervals: a
   * black-holed link is cut 2–3 intervals after the peer's last word (16–24 s). The agent drops a
   * link on which nothing (ping, pong or message) arrived for 2.5 intervals (20 s). 8 s keeps
   * both under the 30 s the fault suite asserts (docs/operations.md, "Fault suite"), with room for a
   * late timer on a busy hub: at 10 s the hub's worst case would be 30 s exactly.
   */
  pingIntervalMs: 8_000,
  /** The agent drops a link silent for this many of the hub's ping intervals (as the welcome states them). */
  agentSilenceIntervals: 2.5,
  /** TLS handshake must finish within this. */
  handshakeTimeoutMs: 10_000,
  /** After connecting, hello must arrive within this. */
  helloTimeoutMs: 10_000,
  /** WebSocket maxPayload, equal to the codec's frame limit. */
  maxPayloadBytes: 64 * 1024,
  /** Token bucket per connection: sustained messages/s and burst. */
  messagesPerSecond: 50,
  messageBurst: 200,
  maxConnections: 10_000,
  /**
   * TLS handshakes in progress at once; a connection beyond this is closed as soon as it is
   * accepted, before any TLS work, and its agent retries after its jittered back-off. In a reconnect
   * storm this keeps the hub's CPU on handshakes that finish, instead of on thousands at once that
   * would run into the handshake timeout and be lost.
   */
  maxPendingHandshakes: 256,
  /** Retry-After (s) sent with an overload refusal. */
  overloadRetryAfterSeconds: 30,
  /** The agent re-handshakes after this (±10 %), so revocation is re-checked. */
  maxConnectionAgeMs: 12 * 3_600_000,
  /** A connection that lasted this long resets the agent's back-off. */
  stableAfterMs: 60_000,
  /** Alarm when the CRL's nextUpdate is closer than this. */
  crlWarningMs: 24 * 3_600_000,
});
