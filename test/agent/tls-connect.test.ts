import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectTls, InterceptionError, type TlsConnectOptions } from '../../agent/link/tls-connect.js';
import { LmgwError } from '../../shared/errors.js';
import { tempDir } from '../helpers/processes.js';
import { aLinkPki, type LinkPki } from './fixtures/link.js';

// The agent's TLS decisions against bare TLS servers on 127.0.0.1 — each refusal with its own
// code, and nothing written to a server the agent did not trust.

const tmp = tempDir();
let pki: LinkPki;
let other: LinkPki;
let gateway: { certPem: string; keyPem: string };
const servers: (Server | TcpServer)[] = [];

beforeAll(async () => {
  pki = await aLinkPki(tmp.dir, 'pki');
  other = await aLinkPki(tmp.dir, 'other');
  gateway = await pki.gateway('site-tls');
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});
afterAll(() => tmp.cleanup());

interface Received {
  bytes: number;
  secured: number;
}

/** A TLS server; counts application bytes it receives from clients. */
async function tlsServer(cert: { certPem: string; keyPem: string }, staple?: () => Buffer | undefined): Promise<{ port: number; received: Received }> {
  const received: Received = { bytes: 0, secured: 0 };
  const server = createServer({ cert: cert.certPem, key: cert.keyPem, ca: [pki.caPem], requestCert: true, rejectUnauthorized: false }, (socket: TLSSocket) => {
    received.secured += 1;
    socket.on('data', (d: Buffer) => (received.bytes += d.length));
    socket.on('error', () => undefined);
  });
  server.on('tlsClientError', () => undefined);
  if (staple) server.on('OCSPRequest', (_cert: Buffer, _issuer: Buffer, done: (err: Error | null, resp?: Buffer) => void) => done(null, staple()));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, received };
}

function options(port: number, override: Partial<TlsConnectOptions> = {}): TlsConnectOptions {
  return { host: '127.0.0.1', port, caPem: pki.caPem, certPem: gateway.certPem, keyPem: gateway.keyPem, proxy: null, timeoutMs: 5_000, ...override };
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    const c = (await p) as { socket?: Socket };
    c.socket?.destroy();
    return undefined;
  } catch (err) {
    return err instanceof LmgwError ? err.code : `not an LmgwError: ${String(err)}`;
  }
}

describe('connectTls', () => {
  it('connects to a console certificate from our CA, by IP and by name, with no staple', async () => {
    const { port } = await tlsServer(pki.server);
    const byIp = await connectTls(options(port));
    expect(byIp.ocsp).toBe('none');
    expect(byIp.viaProxy).toBe(false);
    expect(byIp.serial).toBe(pki.server.serial);
    expect(['TLSv1.3', 'TLSv1.2']).toContain(byIp.protocol);
    byIp.socket.destroy();
    const byName = await connectTls(options(port, { host: 'localhost' }));
    byName.socket.destroy();
  });

  it('refuses a chain from another CA as interception, with the report, and sends the server nothing', async () => {
    const { port, received } = await tlsServer(other.server);
    let error: unknown;
    try {
      (await connectTls(options(port))).socket.destroy();
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InterceptionError);
    const report = (error as InterceptionError).report;
    expect((error as InterceptionError).code).toBe('LINK_INTERCEPTION_SUSPECTED');
    expect(report.issuer).toBe(other.ca.certificate.subject);
    expect(report.subject).toMatch(/CN=localhost/);
    expect(report.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(report.authorizationError).toMatch(/UNABLE_TO_(GET_ISSUER_CERT_LOCALLY|VERIFY_LEAF_SIGNATURE)/);
    expect(report.viaProxy).toBe(false);
    await new Promise((r) => setTimeout(r, 100));
    expect(received.bytes).toBe(0);
  });

  it('refuses our own CA\'s certificate when it does not name the console host', async () => {
    const { port } = await tlsServer(pki.server);
    expect(await codeOf(connectTls(options(port, { servername: 'elsewhere.example' })))).toBe('LINK_SERVER_IDENTITY');
    const wrongName = await pki.ca.issueServer({ dnsNames: ['not-this-host.example'] });
    const second = await tlsServer({ certPem: wrongName.certPem, keyPem: wrongName.keyPem ?? '' });
    expect(await codeOf(connectTls(options(second.port)))).toBe('LINK_SERVER_IDENTITY');
  });

  it('refuses an expired console certificate from our CA with its own code (not interception)', async () => {
    const expired = await pki.ca.issueCustom({ kind: 'server', commonName: 'localhost', ipAddresses: ['127.0.0.1'], notBefore: new Date(Date.now() - 10 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
    const { port } = await tlsServer({ certPem: expired.certPem, keyPem: expired.keyPem ?? '' });
    expect(await codeOf(connectTls(options(port)))).toBe('LINK_CERT_EXPIRED');
  });

  it('refuses a gateway (clientAuth) certificate presented as the console', async () => {
    const gw = await pki.gateway('posing-as-console');
    const { port } = await tlsServer(gw);
    expect(await codeOf(connectTls(options(port)))).toBe('LINK_WRONG_USAGE');
  });

  it('checks a stapled OCSP response: good passes, revoked and tampered are refused', async () => {
    const console2 = await pki.ca.issueServer({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    const cert = { certPem: console2.certPem, keyPem: console2.keyPem ?? '' };
    let staple: Buffer | undefined = Buffer.from(pki.ca.stapledOcspResponse(console2.record.serial));
    const { port } = await tlsServer(cert, () => staple);
    const ok = await connectTls(options(port));
    expect(ok.ocsp).toBe('good');
    ok.socket.destroy();

    const tampered = Buffer.from(staple);
    tampered[tampered.length - 80] = (tampered[tampered.length - 80] ?? 0) ^ 0x01;
    staple = tampered;
    expect(await codeOf(connectTls(options(port)))).toBe('LINK_OCSP_STAPLE');

    await pki.ca.revoke({ serial: console2.record.serial }, 'keyCompromise');
    staple = Buffer.from(pki.ca.stapledOcspResponse(console2.record.serial));
    expect(await codeOf(connectTls(options(port)))).toBe('LINK_SERVER_REVOKED');
  });

  it('gives up on a server that never completes the handshake, within the timeout', async () => {
    const held: Socket[] = [];
    const silent = createTcpServer((s) => held.push(s));
    servers.push(silent);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const started = Date.now();
    const code = await codeOf(connectTls(options((silent.address() as AddressInfo).port, { timeoutMs: 300 })));
    expect(code).toBe('LINK_CONNECT_FAILED');
    expect(Date.now() - started).toBeLessThan(2_000);
    for (const s of held) s.destroy();
  });

  it('reports an unreachable console as LINK_CONNECT_FAILED', async () => {
    const probe = createTcpServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    expect(await codeOf(connectTls(options(port)))).toBe('LINK_CONNECT_FAILED');
  });
});
