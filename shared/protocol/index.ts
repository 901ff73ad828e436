/**
 * The LMGW wire protocol: message types, limits and the hardened XML codec. See docs/protocol.md.
 */
export { decode } from './decode.js';
export { encode } from './encode.js';
export { ProtocolError, type ProtocolErrorCode, type ProtocolErrorDetails } from './errors.js';
export * from './messages.js';
