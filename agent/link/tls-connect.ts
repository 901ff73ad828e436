/**
 * The agent's TLS connection to the console: TCP (direct or through a CONNECT tunnel), then TLS with
 * our CA as the only trust anchor. Every check happens at secureConnect, before the socket is handed
 * to anything that could write an application byte: a foreign chain is an interception, a chain
 * from our CA that does not name the console is LINK_SERVER_IDENTITY, a stapled OCSP response must
 * verify and say good. Nothing is retried with weaker settings here, ever.
 */
import { X509Certificate } from 'node:crypto';
import { isIP, type Socket } from 'node:net';
import { checkServerIdentity, connect, type ConnectionOptions, type PeerCertificate, type TLSSocket } from 'node:tls';
import type { verifyOcspResponse } from '../../certs/ocsp-verify.js';
import { type ErrorCode, LmgwError } from '../../shared/errors.js';
import { LINK_DEFAULTS, TLS_PROFILE } from '../../shared/link.js';
import { openTunnel, parseProxyUrl } from './proxy.js';

export interface TlsConnectOptions {
  /** The console's host (name or IP) and port, from the configured URL. */
  host: string;
  port: number;
  /** The name the console certificate must carry, and the SNI. Default: `host`. */
  servername?: string;
  /** PEM of the LMGW CA: the one and only trust anchor (never the system roots). */
  caPem: string;
  certPem: string;
  keyPem: string;
  /** Proxy URL (already selected, see selectProxy), or null for a direct connection. */
  proxy: string | null;
  /** TCP + CONNECT + TLS must finish within this. Default LINK_DEFAULTS.handshakeTimeoutMs (10 s). */
  timeoutMs?: number;
  /** Clock for the OCSP validity window. */
  now?: () => Date;
  signal?: AbortSignal;
}

/** What the agent was shown when it suspected interception: logged, and reported to the hub later. */
export interface InterceptionReport {
  /** When it was seen, ms since the epoch. */
  time: number;
  /** host:port the agent dialled. */
  target: string;
  subject: string;
  issuer: string;
  /** SHA-256 fingerprint of the presented leaf certificate, `AB:CD:…`. */
  fingerprint256: string;
  /** OpenSSL's verdict (e.g. SELF_SIGNED_CERT_IN_CHAIN), or why our own check failed. */
  authorizationError: string;
  viaProxy: boolean;
  /** The proxy URL with its password redacted, when there was one. */
  proxy?: string;
}

/** LINK_INTERCEPTION_SUSPECTED, carrying what was presented. */
export class InterceptionError extends LmgwError {
  override readonly name = 'InterceptionError';
  readonly report: InterceptionReport;

  constructor(report: InterceptionReport) {
    super(
      'LINK_INTERCEPTION_SUSPECTED',
      `${report.target} presented a certificate not from the LMGW CA (subject "${report.subject}", issuer "${report.issuer}", ` +
        `SHA-256 ${report.fingerprint256}, ${report.authorizationError})${report.viaProxy ? ` through the proxy ${report.proxy ?? ''}` : ''}; nothing was sent`,
    );
    this.report = report;
  }
}

export interface TlsConnection {
  /** Authenticated, checked, and not written to by us yet. */
  socket: TLSSocket;
  viaProxy: boolean;
  /** The redacted proxy URL, when there was one. */
  proxy?: string;
  /** 'good' when the console stapled a valid OCSP response, 'none' when it stapled nothing. */
  ocsp: 'good' | 'none';
  /** The console certificate's subject and serial (hex). */
  subject: string;
  serial: string;
  protocol: string | null;
}

/**
 * What the agent offers in its ClientHello: TLS_PROFILE, plus RSA signature schemes and ECDHE-RSA
 * AEAD suites. Intercepting proxies forge RSA certificates almost without exception (mitmproxy,
 * the common DPI appliances); offering only ECDSA would make them abort the handshake before they
 * show their certificate, and the agent could not report what it was shown. This widens nothing
 * towards the real console: our CA issues ECDSA P-256 keys only, so an RSA certificate can never
 * chain to it, and trust is decided by the chain check below, never by what was negotiated.
 */
export const AGENT_TLS_OFFER = Object.freeze({
  ...TLS_PROFILE,
  ciphers: `${TLS_PROFILE.ciphers}:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305`,
  sigalgs: `${TLS_PROFILE.sigalgs}:rsa_pss_rsae_sha256:rsa_pss_rsae_sha384:rsa_pss_rsae_sha512:rsa_pkcs1_sha256:rsa_pkcs1_sha384`,
});

/**
 * OpenSSL verdicts that mean "this chain does not lead to the trust anchor we gave": someone else's
 * CA. Any verdict on a leaf not signed by our CA counts too (checked by signature, below).
 */
const FOREIGN_CHAIN_ERRORS = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
]);

/** A chain from our CA refused for another reason: the same codes the hub uses for its peers. */
const OWN_CA_ERRORS: Record<string, ErrorCode> = {
  CERT_HAS_EXPIRED: 'LINK_CERT_EXPIRED',
  CERT_NOT_YET_VALID: 'LINK_CERT_NOT_YET_VALID',
  INVALID_PURPOSE: 'LINK_WRONG_USAGE',
  CERT_REVOKED: 'LINK_SERVER_REVOKED',
};

/** Opens and checks the TLS connection to the console. Rejects with an LmgwError (see the codes above). */
export async function connectTls(options: TlsConnectOptions): Promise<TlsConnection> {
  const timeoutMs = options.timeoutMs ?? LINK_DEFAULTS.handshakeTimeoutMs;
  const target = `${options.host.includes(':') ? `[${options.host}]` : options.host}:${options.port}`;
  const identityName = options.servername ?? options.host;
  const proxy = options.proxy === null ? undefined : parseProxyUrl(options.proxy);
  const started = Date.now();
  const abortError = (): LmgwError => new LmgwError('LINK_CONNECT_FAILED', `connecting to ${target} was cancelled`);
  if (options.signal?.aborted) throw abortError();

  let tunnel: Socket | undefined;
  if (proxy) {
    tunnel = await openTunnel({ proxy, host: options.host, port: options.port, timeoutMs, ...(options.signal ? { signal: options.signal } : {}) });
    if (options.signal?.aborted) {
      tunnel.destroy();
      throw abortError();
    }
  }

  // requestOCSP is passed on by tls.connect to the TLSSocket; @types/node lists it on TLSSocketOptions only.
  const tlsOptions: ConnectionOptions & { requestOCSP: boolean } = {
    ...AGENT_TLS_OFFER,
    ca: [options.caPem],
    cert: options.certPem,
    key: options.keyPem,
    // SNI must be a name, never an IP address (RFC 6066 §3).
    ...(isIP(identityName) === 0 ? { servername: identityName } : {}),
    requestOCSP: true,
    // We decide ourselves at secureConnect, so that each refusal gets its own code and report.
    rejectUnauthorized: false,
    checkServerIdentity: () => undefined,
    ...(tunnel ? { socket: tunnel } : { host: options.host, port: options.port }),
  };

  return new Promise<TlsConnection>((resolve, reject) => {
    let settled = false;
    let staple: Buffer | undefined;
    const socket = connect(tlsOptions);
    const remaining = Math.max(1, timeoutMs - (Date.now() - started));
    const timer = setTimeout(() => {
      fail(new LmgwError('LINK_CONNECT_FAILED', `the TLS handshake with ${target} did not finish within ${timeoutMs} ms`));
    }, remaining);
    const onAbort = (): void => fail(abortError());
    options.signal?.addEventListener('abort', onAbort, { once: true });

    function fail(err: LmgwError): void {
      if (settled) return;
      settled = true;
      cleanup();
      socket.destroy();
      reject(err);
    }
    function cleanup(): void {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      socket.removeListener('secureConnect', onSecure);
    }

    socket.on('OCSPResponse', (response: Buffer | null) => {
      if (response && response.length > 0) staple = response;
    });
    socket.on('error', (err: Error) => {
      // After settling, whoever owns the socket (ws) reports its errors.
      fail(new LmgwError('LINK_CONNECT_FAILED', `TLS connection to ${target} failed: ${err.message}`, { cause: err }));
    });
    socket.once('close', () => fail(new LmgwError('LINK_CONNECT_FAILED', `${target} closed the connection during the TLS handshake`)));

    function failWith(err: unknown): void {
      fail(err instanceof LmgwError ? err : new LmgwError('LINK_CONNECT_FAILED', `checking ${target}: ${(err as Error).message}`, { cause: err }));
    }
    function settle(connection: TlsConnection): void {
      if (settled) return;
      settled = true;
      cleanup();
      resolve(connection);
    }
    function onSecure(): void {
      let checked: { connection: TlsConnection; leaf: X509Certificate };
      try {
        checked = check();
      } catch (err) {
        failWith(err);
        return;
      }
      const stapled = staple;
      if (!stapled) {
        settle(checked.connection);
        return;
      }
      // The verifier is loaded on the first stapled handshake only (see certs/ocsp-verify.ts); the
      // socket stays unused meanwhile, and the handshake timer, close and abort still end it.
      loadOcspVerifier().then(
        (verify) => {
          if (settled) return;
          try {
            settle(checkStaple(verify, stapled, checked));
          } catch (err) {
            failWith(err);
          }
        },
        failWith,
      );
    }
    socket.once('secureConnect', onSecure);

    function check(): { connection: TlsConnection; leaf: X509Certificate } {
      const peer: PeerCertificate = socket.getPeerCertificate(true);
      if (!peer.raw || peer.raw.length === 0) throw new LmgwError('LINK_CONNECT_FAILED', `${target} presented no certificate`);
      const leaf = new X509Certificate(peer.raw);
      const ca = new X509Certificate(options.caPem);
      const fromOurCa = leaf.checkIssued(ca) && leaf.verify(ca.publicKey);
      const verdict = socket.authorized ? undefined : String(socket.authorizationError ?? 'not authorized');
      const subject = oneLine(leaf.subject);
      if (!fromOurCa || (verdict !== undefined && FOREIGN_CHAIN_ERRORS.has(verdict))) {
        throw new InterceptionError({
          time: Date.now(),
          target,
          subject,
          issuer: oneLine(leaf.issuer),
          fingerprint256: leaf.fingerprint256,
          authorizationError: verdict ?? 'leaf not signed by the LMGW CA',
          viaProxy: proxy !== undefined,
          ...(proxy ? { proxy: proxy.redacted } : {}),
        });
      }
      if (verdict !== undefined) {
        throw new LmgwError(OWN_CA_ERRORS[verdict] ?? 'LINK_BAD_CERT', `the console certificate (${subject}, serial ${leaf.serialNumber}) was refused: ${verdict}`);
      }
      const mismatch = checkServerIdentity(identityName, peer);
      if (mismatch) {
        throw new LmgwError('LINK_SERVER_IDENTITY', `the console certificate (${subject}) does not name "${identityName}": ${mismatch.message}`);
      }
      const connection: TlsConnection = {
        socket,
        viaProxy: proxy !== undefined,
        ...(proxy ? { proxy: proxy.redacted } : {}),
        ocsp: 'none',
        subject,
        serial: leaf.serialNumber.toLowerCase(),
        protocol: socket.getProtocol(),
      };
      return { connection, leaf };
    }

    /** A stapled OCSP response must verify and say good; then the connection reports it. */
    function checkStaple(verify: OcspVerifier, stapled: Buffer, { connection, leaf }: { connection: TlsConnection; leaf: X509Certificate }): TlsConnection {
      const status = verify(stapled, options.caPem, leaf.serialNumber, options.now?.() ?? new Date());
      if (status.status === 'revoked') {
        throw new LmgwError(
          'LINK_SERVER_REVOKED',
          `the console certificate (${connection.subject}, serial ${leaf.serialNumber}) is revoked since ${status.revocationTime?.toISOString() ?? 'an unknown time'} (stapled OCSP)`,
        );
      }
      if (status.status !== 'good') {
        throw new LmgwError('LINK_OCSP_STAPLE', `the stapled OCSP response says "${status.status}" for the console certificate ${leaf.serialNumber}`);
      }
      return { ...connection, ocsp: 'good' };
    }
  });
}

type OcspVerifier = typeof verifyOcspResponse;

/** certs/ocsp-verify.js, imported when first needed (a console that staples nothing never loads it). */
async function loadOcspVerifier(): Promise<OcspVerifier> {
  const verifier = await import('../../certs/ocsp-verify.js');
  return verifier.verifyOcspResponse;
}

function oneLine(name: string): string {
  return name.split('\n').filter(Boolean).join(', ');
}
