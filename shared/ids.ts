/**
 * Identifiers shared by the CA, the wire protocol and both ends.
 *
 * A gateway id names one site gateway. It is the certificate's subject CN and its SAN URI
 * `urn:lmgw:gateway:<id>`, so it is restricted to characters that are safe in a URI, a file name
 * and a log line without escaping.
 */
export const GATEWAY_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export const GATEWAY_URI_PREFIX = 'urn:lmgw:gateway:';

export function isGatewayId(value: string): boolean {
  return GATEWAY_ID_PATTERN.test(value);
}

export function gatewayUri(id: string): string {
  return `${GATEWAY_URI_PREFIX}${id}`;
}

/** The gateway id inside a SAN URI, or undefined when the URI is not one of ours. */
export function gatewayIdFromUri(uri: string): string | undefined {
  if (!uri.startsWith(GATEWAY_URI_PREFIX)) return undefined;
  const id = uri.slice(GATEWAY_URI_PREFIX.length);
  return isGatewayId(id) ? id : undefined;
}
