import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createTcpServer, connect as tcpConnect, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { LinkClient, RefusedError, type ConnectedInfo, type LinkClientOptions, type RetryInfo } from '../../agent/link/client.js';
import { startLinkServer, type LinkServer } from '../../console/hub/link/server.js';
import { decode, encode, type Message, type ProtocolError, type WelcomeMessage } from '../../shared/protocol/index.js';
import { tempDir, waitFor } from '../helpers/processes.js';
import { aHello, aLinkPki, type LinkPki } from './fixtures/link.js';

// The agent's link client against the real hub (console/hub/link) and, for behaviour a correct hub
// never shows, against a bare https + ws server built here.

const tmp = tempDir();
let pki: LinkPki;
let other: LinkPki;
let gw: { certPem: string; keyPem: string };
const cleanups: (() => Promise<unknown> | void)[] = [];

beforeAll(async () => {
  pki = await aLinkPki(tmp.dir, 'pki');
  other = await aLinkPki(tmp.dir, 'other');
  gw = await pki.gateway('site-link');
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(() => tmp.cleanup());

async function aHub(override: Partial<Parameters<typeof startLinkServer>[0]> = {}): Promise<LinkServer> {
  const hub = await startLinkServer({ host: '127.0.0.1', port: 0, caPem: pki.caPem, certPem: pki.server.certPem, keyPem: pki.server.keyPem, ...override });
  cleanups.push(() => hub.close());
  return hub;
}

function aClient(port: number, override: Partial<LinkClientOptions> = {}): LinkClient {
  const client = new LinkClient({
    url: `wss://127.0.0.1:${port}`,
    gatewayId: 'site-link',
    caPem: pki.caPem,
    certPem: gw.certPem,
    keyPem: gw.keyPem,
    proxy: null,
    backoff: { baseMs: 50, capMs: 200 },
    hello: () => aHello('site-link'),
    ...override,
  });
  cleanups.push(() => client.stop());
  return client;
}

/** Closes a server and cuts every connection it accepted (close() alone waits for them). */
function closing(server: TcpServer | HttpsServer): () => Promise<void> {
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    });
}

/** A bare wss server with our console certificate; `onSession` plays the hub. */
async function aBareHub(onSession: (ws: WebSocket, tls: TLSSocket) => void, onUpgrade?: (socket: Duplex) => boolean): Promise<{ port: number; tlsSessions: TLSSocket[] }> {
  const tlsSessions: TLSSocket[] = [];
  const server: HttpsServer = createHttpsServer({ cert: pki.server.certPem, key: pki.server.keyPem, ca: [pki.caPem], requestCert: true, rejectUnauthorized: false });
  server.on('secureConnection', (s: TLSSocket) => tlsSessions.push(s));
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    if (onUpgrade?.(socket)) return;
    wss.handleUpgrade(req, socket, head, (ws) => onSession(ws, req.socket as TLSSocket));
  });
  cleanups.push(closing(server));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, tlsSessions };
}

function welcome(override: Partial<WelcomeMessage> = {}): string {
  return encode({ kind: 'welcome', gatewayId: 'site-link', serverTime: Date.now(), pingIntervalSeconds: 15, telemetryIntervalSeconds: 1, ...override });
}

function nextRetry(client: LinkClient): Promise<RetryInfo> {
  return new Promise((resolve) => {
    const off = client.events.on('retry', (info) => {
      off();
      resolve(info);
    });
  });
}

describe('LinkClient with the hub', () => {
  it('says hello, counts itself connected at the welcome, and carries a command and its result', async () => {
    const hub = await aHub();
    const atHub: Message[] = [];
    hub.on('message', (_s, m) => atHub.push(m));
    const client = aClient(hub.port);
    const received: Message[] = [];
    client.events.on('message', (m) => received.push(m));
    expect(client.send({ kind: 'ack', seq: 1 })).toBe(false);
    client.start();
    const connected = await new Promise<WelcomeMessage>((r) => client.events.once('connected', (i) => r(i.welcome)));
    expect(connected.gatewayId).toBe('site-link');
    expect(client.connected).toBe(true);
    expect(hub.connected.map((s) => s.gatewayId)).toEqual(['site-link']);
    expect(hub.connected[0]?.hello.viaProxy).toBe(false);

    expect(hub.send('site-link', { kind: 'command', id: 'c-1', op: 'read', deadline: Date.now() + 5_000 })).toBe(true);
    await waitFor(() => received.length === 1, 5_000, 'the command');
    expect(received[0]).toMatchObject({ kind: 'command', id: 'c-1', op: 'read' });
    expect(client.send({ kind: 'result', commandId: 'c-1', status: 'ok', time: Date.now(), relays: [{ channel: 1, on: true }] })).toBe(true);
    await waitFor(() => atHub.length === 1, 5_000, 'the result at the hub');
    expect(atHub[0]).toMatchObject({ kind: 'result', commandId: 'c-1', status: 'ok' });
  });

  it('stop() closes with 1000 and does not reconnect', async () => {
    const hub = await aHub();
    const closes: number[] = [];
    hub.on('disconnected', (_s, info) => closes.push(info.closeCode));
    let connects = 0;
    hub.on('connected', () => (connects += 1));
    const client = aClient(hub.port);
    client.start();
    await waitFor(() => client.connected, 5_000, 'connected');
    await client.stop();
    await waitFor(() => closes.length === 1, 5_000, 'the hub to see the close');
    expect(closes).toEqual([1000]);
    await new Promise((r) => setTimeout(r, 400));
    expect(connects).toBe(1);
    expect(client.send({ kind: 'ack', seq: 1 })).toBe(false);
  });

  it('a hello id that is not the certificate id: the hub refuses with LINK_IDENTITY_MISMATCH and the client backs off', async () => {
    const hub = await aHub();
    const client = aClient(hub.port, { hello: () => aHello('someone-else') });
    client.start();
    const retry = await nextRetry(client);
    expect(retry.error?.code).toBe('LINK_IDENTITY_MISMATCH');
    expect(client.connected).toBe(false);
  });

  it("checks the hub's stapled OCSP response: good connects, revoked is refused before hello", async () => {
    const server = await pki.ca.issueServer({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    const staple = join(tmp.dir, `staple-${server.record.serial}.der`);
    writeFileSync(staple, pki.ca.stapledOcspResponse(server.record.serial));
    const hub = await aHub({ certPem: server.certPem, keyPem: server.keyPem ?? '', ocspStaplePath: staple });
    let upgrades = 0;
    hub.on('upgradeRequest', () => (upgrades += 1));
    const client = aClient(hub.port);
    client.start();
    const info = await new Promise<ConnectedInfo>((r) => client.events.once('connected', r));
    expect(info.ocsp).toBe('good');
    await client.stop();

    await pki.ca.revoke({ serial: server.record.serial }, 'keyCompromise');
    const revokedStaple = staple.replace('.der', '-revoked.der');
    writeFileSync(revokedStaple, pki.ca.stapledOcspResponse(server.record.serial));
    const hub2 = await aHub({ certPem: server.certPem, keyPem: server.keyPem ?? '', ocspStaplePath: revokedStaple });
    let upgrades2 = 0;
    hub2.on('upgradeRequest', () => (upgrades2 += 1));
    const second = aClient(hub2.port);
    second.start();
    const retry = await nextRetry(second);
    expect(retry.error?.code).toBe('LINK_SERVER_REVOKED');
    expect(upgrades2).toBe(0);
    expect(upgrades).toBe(1);
  });

  it('reconnects after the hub restarts on the same port', async () => {
    const hub = await aHub();
    const port = hub.port;
    const client = aClient(port);
    client.start();
    await waitFor(() => client.connected, 5_000, 'first connection');
    const disconnected = new Promise<string | undefined>((r) => client.events.once('disconnected', (i) => r(i.error?.code)));
    await hub.close();
    expect(await disconnected).toBe('LINK_SHUTDOWN');
    const again = await aHub({ port });
    await waitFor(() => again.connected.length === 1, 10_000, 'the reconnect');
    // The hub counts the session at the hello, the agent only once the welcome is in: a moment later.
    await waitFor(() => client.connected, 2_000, 'the agent to count itself connected');
    expect(client.connected).toBe(true);
  });

  it('delivers an interception report after the next welcome on a clean path', async () => {
    // A TCP relay whose target changes: first a server with someone else's certificate, then the hub.
    const hub = await aHub();
    const events: Message[] = [];
    hub.on('message', (_s, m) => events.push(m));
    const impostor = await aBareHubWith(other);
    let target = impostor;
    const relay: TcpServer = createTcpServer((inbound: Socket) => {
      const outbound = tcpConnect(target, '127.0.0.1');
      inbound.pipe(outbound).pipe(inbound);
      inbound.on('close', () => outbound.destroy());
      outbound.on('close', () => inbound.destroy());
      inbound.on('error', () => undefined);
      outbound.on('error', () => undefined);
    });
    cleanups.push(closing(relay));
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    const client = aClient((relay.address() as AddressInfo).port);
    const reports: string[] = [];
    client.events.on('interception', (rep) => reports.push(rep.issuer));
    client.start();
    await waitFor(() => reports.length > 0, 5_000, 'the interception');
    expect(reports[0]).toBe(other.ca.certificate.subject);
    expect(client.pendingInterceptionReports).toHaveLength(1);
    target = hub.port;
    await waitFor(() => events.some((m) => m.kind === 'event'), 10_000, 'the report at the hub');
    const event = events.find((m) => m.kind === 'event');
    expect(event).toMatchObject({ type: 'interception-suspected', severity: 'alarm' });
    const details = Object.fromEntries((event?.kind === 'event' ? event.details : []).map((d) => [d.key, d.value]));
    expect(details.issuer).toBe(other.ca.certificate.subject);
    expect(details.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(details.proxy).toBe('none');
    expect(client.pendingInterceptionReports).toHaveLength(0);
  });
});

/** A TLS server with another CA's certificate (what an intercepting proxy looks like), returns its port. */
async function aBareHubWith(ca: LinkPki): Promise<number> {
  const server = createHttpsServer({ cert: ca.server.certPem, key: ca.server.keyPem });
  server.on('tlsClientError', () => undefined);
  cleanups.push(closing(server));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

describe('LinkClient against a misbehaving or refusing console', () => {
  it('a welcome for another gateway is not a connection: LINK_PROTOCOL, back-off', async () => {
    const bare = await aBareHub((ws) => ws.once('message', () => ws.send(welcome({ gatewayId: 'not-me' }))));
    const client = aClient(bare.port);
    let connected = false;
    client.events.on('connected', () => (connected = true));
    client.start();
    const retry = await nextRetry(client);
    expect(retry.error?.code).toBe('LINK_PROTOCOL');
    expect(connected).toBe(false);
  });

  it('a bad frame is answered with an error message and the session goes on', async () => {
    const frames: string[] = [];
    const bare = await aBareHub((ws) => {
      ws.on('message', (d: Buffer) => frames.push(d.toString()));
      ws.once('message', () => {
        ws.send(welcome());
        ws.send('<command v="1" id="x"');
        ws.send(encode({ kind: 'ack', seq: 7 }));
      });
    });
    const client = aClient(bare.port);
    const got: Message[] = [];
    client.events.on('message', (m) => got.push(m));
    client.start();
    await waitFor(() => got.length === 1, 5_000, 'the ack after the bad frame');
    expect(got[0]).toEqual({ kind: 'ack', seq: 7 });
    await waitFor(() => frames.length === 2, 5_000, 'the error answer');
    expect(decode(frames[1] ?? '')).toMatchObject({ kind: 'error', code: 'PROTO_NOT_XML' });
    expect(client.connected).toBe(true);
  });

  it('onUndecodable answers a bad frame in its place (CMD_MALFORMED for a command whose id was read); otherwise the error', async () => {
    const frames: string[] = [];
    const bare = await aBareHub((ws) => {
      ws.on('message', (d: Buffer) => frames.push(d.toString()));
      ws.once('message', () => {
        ws.send(welcome());
        ws.send(`<command v="1" id="c-9" op="explode" dl="${Date.now() + 5_000}"/>`);
        ws.send('<command v="1" id="x"');
      });
    });
    const seen: ProtocolError[] = [];
    const client = aClient(bare.port, {
      onUndecodable: (err) => {
        seen.push(err);
        return err.ref === undefined ? undefined : { kind: 'result', commandId: err.ref, status: 'rejected', code: 'CMD_MALFORMED', time: Date.now(), message: err.code };
      },
    });
    client.start();
    await waitFor(() => frames.length === 3, 5_000, 'two answers after the hello');
    expect(seen.map((e) => e.ref)).toEqual(['c-9', undefined]);
    expect(decode(frames[1] ?? '')).toMatchObject({ kind: 'result', commandId: 'c-9', status: 'rejected', code: 'CMD_MALFORMED' });
    expect(decode(frames[2] ?? '')).toMatchObject({ kind: 'error', code: 'PROTO_NOT_XML' });
    expect(client.connected).toBe(true);
  });

  it('honours Retry-After of a 503 and reads the refusal code', async () => {
    let upgrades = 0;
    const bare = await aBareHub(
      () => undefined,
      (socket) => {
        upgrades += 1;
        socket.end('HTTP/1.1 503 Service Unavailable\r\nretry-after: 2\r\nx-lmgw-refusal: LINK_OVERLOADED\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
        return true;
      },
    );
    const client = aClient(bare.port);
    client.start();
    const retry = await nextRetry(client);
    expect(retry.error).toBeInstanceOf(RefusedError);
    const refused = retry.error as RefusedError;
    expect(refused.code).toBe('LINK_REFUSED');
    expect(refused.status).toBe(503);
    expect(refused.refusal).toBe('LINK_OVERLOADED');
    expect(retry.delayMs).toBeGreaterThanOrEqual(2_000);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(upgrades).toBe(1);
  });

  it('a 403 with a refusal code backs off with that code in the error', async () => {
    const bare = await aBareHub(
      () => undefined,
      (socket) => {
        socket.end('HTTP/1.1 403 Forbidden\r\nx-lmgw-refusal: LINK_CERT_REVOKED\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
        return true;
      },
    );
    const client = aClient(bare.port);
    client.start();
    const retry = await nextRetry(client);
    expect(retry.error).toMatchObject({ code: 'LINK_REFUSED', status: 403, refusal: 'LINK_CERT_REVOKED' });
  });

  it('a console that falls silent for 2.5 ping intervals is dropped and dialled again', async () => {
    let sessions = 0;
    const bare = await aBareHub((ws) => {
      sessions += 1;
      ws.once('message', () => ws.send(welcome({ pingIntervalSeconds: 1 })));
    });
    const client = aClient(bare.port);
    client.start();
    await waitFor(() => client.connected, 5_000, 'connected');
    const started = Date.now();
    const down = await new Promise<string | undefined>((r) => client.events.once('disconnected', (i) => r(i.error?.code)));
    expect(down).toBe('LINK_PONG_TIMEOUT');
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_000);
    await waitFor(() => sessions === 2, 5_000, 'the second session');
  });

  it('the maximum connection age forces a fresh, full TLS handshake (no resumption)', async () => {
    const bare = await aBareHub((ws) => ws.once('message', () => ws.send(welcome())));
    const client = aClient(bare.port, { maxConnectionAgeMs: 400 });
    let connects = 0;
    client.events.on('connected', () => (connects += 1));
    client.start();
    await waitFor(() => connects >= 3, 10_000, 'three sessions');
    expect(bare.tlsSessions.length).toBeGreaterThanOrEqual(3);
    expect(bare.tlsSessions.every((s) => !s.isSessionReused())).toBe(true);
  });

  it('with no welcome in time, the attempt fails and is retried', async () => {
    const bare = await aBareHub(() => undefined);
    const client = aClient(bare.port, { welcomeTimeoutMs: 300 });
    client.start();
    const retry = await nextRetry(client);
    expect(retry.error?.code).toBe('LINK_CONNECT_FAILED');
    expect(retry.error?.message).toMatch(/welcome/);
  });
});
