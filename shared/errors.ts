/**
 * The one registry of LMGW error codes. Every code is stable: tests, logs, the wire and the docs use
 * it, never the message text. `docs/errors.md` documents each one (a test fails if one is missing).
 *
 * Areas: PROTO_ (the XML protocol codec), CMD_ (why an agent refused or failed a command), LINK_ (the
 * mutual-TLS WebSocket link), CONFIG_ (config files), CLI_ (command-line arguments), CA_ (the private
 * CA and `lmgw-ca`), MODBUS_ (the agent's load-manager drivers), OP_ (the operator service and its
 * API), STORE_ (the hub's database).
 */
export const ERROR_CODES = {
  // --- protocol -----------------------------------------------------------------------------------
  PROTO_TOO_LARGE: 'A frame is larger than MAX_FRAME_BYTES (64 KiB of UTF-8), or a message would encode larger.',
  PROTO_NOT_XML: 'A frame is not one well-formed XML document (bad syntax, bad character, unclosed or mismatched tag).',
  PROTO_FORBIDDEN_MARKUP: 'A frame holds a DOCTYPE, entity declaration, comment, CDATA section or processing instruction.',
  PROTO_BAD_ENTITY: 'A character reference is not one of the five XML entities or a valid numeric reference.',
  PROTO_TOO_DEEP: 'Elements are nested deeper than the protocol allows.',
  PROTO_UNKNOWN_KIND: 'The root element names no known message kind.',
  PROTO_UNSUPPORTED_VERSION: 'The protocol version (attribute v) is not one this side speaks.',
  PROTO_MISSING_FIELD: 'A required attribute, element or text is missing.',
  PROTO_BAD_FIELD: 'A field has the wrong type, is out of range, or is not allowed together with another field.',
  PROTO_UNKNOWN_FIELD: 'An attribute, element or text is not part of this message kind.',
  PROTO_DUPLICATE: 'An attribute, channel, device or detail key appears twice where it must be unique.',
  PROTO_TOO_MANY: 'A list, the attributes of an element or the elements of a frame exceed their limit.',

  // --- agent command reasons (the code of a result that is not ok) ------------------------------
  CMD_UNKNOWN_CHANNEL: 'The command names a channel this gateway does not have.',
  CMD_NOT_SHEDDABLE: 'The command would shed a channel whose profile says it must not be shed.',
  CMD_MIN_ON_TIME: 'Shedding now would break the channel\'s minimum on time.',
  CMD_MIN_OFF_TIME: 'Restoring now would break the channel\'s minimum off time.',
  CMD_STALE: 'The command arrived after its deadline and was not executed.',
  CMD_MALFORMED: 'The command could not be decoded or validated and was not executed.',
  CMD_LM_FAILED: 'The load manager did not carry out the command or its read-back disagrees.',

  // --- secure link: refusals and security events (hub side) ------------------------------------
  LINK_NO_CERT: 'The client presented no certificate.',
  LINK_UNKNOWN_CA: 'The peer certificate does not chain to the LMGW CA.',
  LINK_CERT_EXPIRED: 'The peer certificate has expired.',
  LINK_CERT_NOT_YET_VALID: 'The peer certificate is not valid yet.',
  LINK_CERT_REVOKED: 'The peer certificate is revoked.',
  LINK_WRONG_USAGE: 'The peer certificate is not for this use (key usage or extended key usage).',
  LINK_BAD_CERT: 'The peer certificate was refused for another reason (the message gives OpenSSL\'s).',
  LINK_IDENTITY_MISMATCH: 'The gateway id in hello is not the id in the client certificate.',
  LINK_HELLO_TIMEOUT: 'The gateway did not send hello in time after connecting.',
  LINK_PROTOCOL: 'A peer broke the session rules (first message not hello, message of the wrong direction).',
  LINK_VERSION_MISMATCH: 'Hub and agent share no protocol version.',
  LINK_RATE_LIMITED: 'A peer sent messages faster than the per-connection limit.',
  LINK_OVERLOADED: 'The hub is at its connection limit; the refusal carries a retry-after hint.',
  LINK_REPLACED: 'A newer session of the same gateway replaced this one.',
  LINK_PONG_TIMEOUT: 'Nothing (message, ping or pong) came from the peer for too long (the console allows two ping intervals, the agent 2.5); the connection was considered dead.',
  LINK_SHUTDOWN: 'The hub is shutting down.',
  LINK_CRL_EXPIRING: 'The CRL the hub uses is close to its nextUpdate; renew it with `lmgw-ca crl`.',
  LINK_CRL_EXPIRED: 'The CRL the hub uses has expired; every client is refused until it is renewed.',
  LINK_CRL_UNREADABLE: 'The CRL file cannot be read or parsed; the hub keeps the last good one.',
  LINK_OCSP_STAPLE: 'The OCSP response to staple is missing, invalid or stale.',

  // --- secure link: the agent's side --------------------------------------------------------------
  LINK_INTERCEPTION_SUSPECTED: 'The server presented a certificate chain not from the LMGW CA: an intercepting proxy or an attacker.',
  LINK_SERVER_IDENTITY: 'The console certificate is from the LMGW CA but does not name the configured console host.',
  LINK_SERVER_REVOKED: 'The console certificate is revoked according to its stapled OCSP response.',
  LINK_REFUSED: 'The console refused the connection (the HTTP status and its reason code are in the message).',
  LINK_PROXY_AUTH: 'The HTTP proxy requires authentication (407) or refused the credentials given.',
  LINK_PROXY_REFUSED: 'The HTTP proxy refused the CONNECT tunnel or could not be reached.',
  LINK_CONNECT_FAILED: 'The console could not be reached (DNS, TCP or TLS handshake failure or timeout).',
  LINK_KEY_PERMISSIONS: 'A private key file is readable by group or others; fix it with chmod 600.',

  // --- Modbus / LM ---------------------------------------------------------------------------------
  MODBUS_TIMEOUT: 'The load manager did not answer a Modbus request within the timeout, after every retry.',
  MODBUS_EXCEPTION: 'The load manager answered with a Modbus exception (illegal function or address, device failure, …).',
  MODBUS_BAD_FRAME: 'A Modbus reply was malformed: truncated, wrong length or CRC, or not an answer to the request sent.',
  MODBUS_CONNECT_FAILED: 'The Modbus connection (TCP or serial port) could not be opened or was lost.',
  MODBUS_OFFLINE: 'The load manager is offline; the request was not sent and the device is probed again after a back-off.',
  MODBUS_BAD_VALUE: 'A measurement register holds a value that cannot be a measurement (NaN, infinite or out of range).',

  // --- operator service and operator API (hub) ----------------------------------------------------
  OP_UNAUTHORIZED: 'An operator API request carried no token or a wrong one.',
  OP_FORBIDDEN_ORIGIN: 'An operator API request named a Host or Origin that is not the API\'s own (a cross-site request or DNS rebinding).',
  OP_BAD_REQUEST: 'An operator call is malformed: unknown operation, invalid JSON, or a field missing or out of range (the message names the field).',
  OP_NOT_FOUND: 'The gateway, shed event, command or alarm named does not exist.',
  OP_GATEWAY_OFFLINE: 'The gateway is not connected, so the command was not sent.',
  OP_TIMED_OUT: 'The gateway did not answer a command before its deadline; whether it was carried out is unknown until the next read-back.',
  OP_HUB_RESTARTED: 'The hub stopped while the command was in flight; its outcome is unknown until the next read-back.',
  OP_EVENT_ENDED: 'The shed event has already ended or been cancelled.',
  OP_NO_CA: 'The console has no CA directory configured, so it cannot list or revoke certificates (use `lmgw-ca` on the CA machine).',
  OP_INTERNAL: 'The hub failed unexpectedly while handling an operator call; the message holds a reference to the details in the hub log.',

  // --- hub database ---------------------------------------------------------------------------------
  STORE_UNAVAILABLE: 'The hub database cannot be opened or written (path, permissions, disk full, or a corrupt file).',
  STORE_NEWER_SCHEMA: 'The hub database was written by a newer LMGW version; it is not opened, so nothing in it is damaged.',

  // --- configuration -------------------------------------------------------------------------------
  CONFIG_INVALID: 'A configuration file is missing, not JSON, or a field is invalid (the message names the field).',

  // --- command line ---------------------------------------------------------------------------
  CLI_USAGE: 'A command-line argument or environment variable (LMGW_LOG_LEVEL) is missing, unknown or malformed.',

  // --- private CA -------------------------------------------------------------------------------
  CA_NOT_INITIALISED: 'The --pki directory holds no CA (run `lmgw-ca init` first).',
  CA_ALREADY_INITIALISED: '`lmgw-ca init` refused: the --pki directory already holds a CA.',
  CA_CORRUPT: 'A CA file (database, certificate or key) is unreadable or inconsistent.',
  CA_BAD_PASSPHRASE: 'The CA passphrase does not decrypt the CA key.',
  CA_NO_PASSPHRASE: 'No CA passphrase: set LMGW_CA_PASSPHRASE or run on a terminal.',
  CA_WEAK_PASSPHRASE: 'A new CA passphrase must have at least 12 characters.',
  CA_LOCKED: 'Another lmgw-ca command holds the CA lock and did not release it in time.',
  CA_UNKNOWN_ID: 'No certificate with this gateway id or serial is in the CA database.',
  CA_ID_EXISTS: 'A valid certificate already exists for this gateway id (use --renew to supersede it).',
  CA_ALREADY_REVOKED: 'The certificate is already revoked.',
  CA_BAD_ID: 'A gateway id must be 1–64 characters of a-z, 0-9, "-", "_" and ".", starting with a letter or digit.',
  CA_BAD_CSR: 'The certificate signing request is malformed or its signature does not verify.',
  CA_BAD_NAME: 'A DNS name or IP address for a server certificate is malformed.',
  CA_BAD_REASON: 'Unknown revocation reason.',
  CA_IO: 'A file could not be read or written.',
  CA_OUT_EXISTS: 'An output file already exists; LMGW never overwrites a key or certificate (remove it or pick another --out).',
  CA_BAD_OCSP_REQUEST: 'The OCSP request is not valid DER.',
} as const satisfies Record<string, string>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(value: string): value is ErrorCode {
  return Object.prototype.hasOwnProperty.call(ERROR_CODES, value);
}

/** Bad input or a refused operation: expected, reported with its code, never a crash. */
export class LmgwError extends Error {
  override readonly name: string = 'LmgwError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** A programmer error: a broken invariant inside LMGW, never caused by input (VS Code's BugIndicatingError). */
export class BugError extends Error {
  override readonly name = 'BugError';
}
