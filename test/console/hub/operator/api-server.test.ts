import { mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startOperatorApi, type OperatorApi, type OperatorApiOptions } from '../../../../console/hub/operator/api-server.js';
import { MAX_WATCHED_GATEWAYS, type OperatorEvent } from '../../../../console/hub/operator/types.js';
import { LmgwError, type ErrorCode } from '../../../../shared/errors.js';
import { createLogger } from '../../../../shared/node/log.js';
import { tempDir, waitFor } from '../../../helpers/processes.js';
import { ask, callApi, closed, dialEvents, type Answer } from './http-client.js';
import { BAD_CALLS, GOOD_CALLS, RecordingService } from './recording-service.js';

const tmp = tempDir('lmgw-operator-api-');
const STATIC = join(tmp.dir, 'static');
const SECRET = 'SECRET-OUTSIDE-THE-STATIC-DIR';
const service = new RecordingService();
const logLines: string[] = [];
let api: OperatorApi;
let port: number;
const started: OperatorApi[] = [];

/** The hub's logger (the factory every process uses), its lines caught. */
function captureLogger(lines: string[]): Logger {
  return createLogger({ name: 'lm-console', level: 'debug', destination: { write: (line: string) => void lines.push(line) } });
}

async function startApi(extra: Partial<OperatorApiOptions> = {}): Promise<OperatorApi> {
  const a = await startOperatorApi({ service, port: 0, tokenFile: join(tmp.dir, 'data', 'operator-token'), ...extra });
  started.push(a);
  return a;
}

function errorOf(answer: Answer): { code: string; message: string } {
  expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
  const body = answer.json as { error?: { code: string; message: string } };
  expect(body.error, answer.text).toBeDefined();
  return body.error ?? { code: '', message: '' };
}

function expectRefusal(answer: Answer, status: number, code: ErrorCode): string {
  expect(answer.status, answer.text).toBe(status);
  const error = errorOf(answer);
  expect(error.code).toBe(code);
  return error.message;
}

const ALARM: OperatorEvent = {
  type: 'alarm',
  alarm: { id: 'a1', code: 'LINK_CRL_EXPIRING', severity: 'warning', message: 'renew the CRL', raisedAt: 1_700_000_000_000 },
};

beforeAll(async () => {
  // The renderer a build would leave, a secret beside it, and symlinks that try to lead out.
  mkdirSync(join(STATIC, 'assets'), { recursive: true });
  writeFileSync(join(STATIC, 'index.html'), '<!doctype html><title>LMGW</title><script type="module" src="/assets/app.js"></script>');
  writeFileSync(join(STATIC, 'assets', 'app.js'), 'console.log("app");');
  writeFileSync(join(STATIC, 'assets', 'app.css'), 'body{}');
  writeFileSync(join(STATIC, 'logo.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  writeFileSync(join(STATIC, 'font.woff2'), Buffer.from([0x77, 0x4f, 0x46, 0x32]));
  writeFileSync(join(tmp.dir, 'package.json'), SECRET);
  writeFileSync(join(tmp.dir, 'secret.txt'), SECRET);
  // A dotfile a build tool might leave (.env): never served.
  writeFileSync(join(STATIC, '.env'), SECRET);
  mkdirSync(join(STATIC, '.git'));
  writeFileSync(join(STATIC, '.git', 'config.txt'), SECRET);
  symlinkSync(join(tmp.dir, 'secret.txt'), join(STATIC, 'escape.txt'));
  symlinkSync(tmp.dir, join(STATIC, 'up'));
  symlinkSync(join(STATIC, 'assets', 'app.js'), join(STATIC, 'alias.js'));
  api = await startApi({ staticDir: STATIC, logger: captureLogger(logLines) });
  port = api.port;
});

afterAll(async () => {
  for (const a of started) await a.close();
  tmp.cleanup();
});

afterEach(() => {
  service.reset();
});

describe('the token', () => {
  it('is 256 random bits, written 0600 in a 0700 directory, fresh at every start, and removed at close', async () => {
    const dir = join(tmp.dir, 'fresh', 'data');
    const tokenFile = join(dir, 'operator-token');
    const first = await startApi({ tokenFile });
    expect(first.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(readFileSync(tokenFile, 'utf8')).toBe(first.token);
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    // Written through a temporary file and a rename: nothing else is left beside it.
    expect(readdirSync(dir)).toEqual(['operator-token']);
    await first.close();
    expect(() => statSync(tokenFile)).toThrow(/ENOENT/);

    const second = await startApi({ tokenFile });
    expect(second.token).not.toBe(first.token);
    expect(readFileSync(tokenFile, 'utf8')).toBe(second.token);
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    // The old token is worth nothing to the new server.
    expectRefusal(await callApi(second.port, first.token, 'fleet', {}), 401, 'OP_UNAUTHORIZED');
    expect((await callApi(second.port, second.token, 'fleet', {})).status).toBe(200);
    await second.close();
  });

  it('replaces a token file someone left readable with a 0600 one', async () => {
    const tokenFile = join(tmp.dir, 'loose', 'operator-token');
    mkdirSync(join(tmp.dir, 'loose'));
    writeFileSync(tokenFile, 'stale', { mode: 0o644 });
    const own = await startApi({ tokenFile });
    expect(readFileSync(tokenFile, 'utf8')).toBe(own.token);
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    await own.close();
  });

  it('is never written to the log, which still records the refusals', async () => {
    await callApi(port, 'wrong', 'fleet', {});
    await ask(port, { path: `/login?token=${api.token}` });
    await ask(port, { path: '/login?token=nope' });
    await callApi(port, api.token, 'startShed', GOOD_CALLS.find((c) => c.method === 'startShed')?.params);
    const log = logLines.join('');
    expect(log).toContain('API request without a valid token');
    expect(log).toContain('login with a missing or wrong token');
    expect(log).toContain('operation startShed');
    expect(log).not.toContain(api.token);
  });

  it('does not show in JSON of the API object', () => {
    expect(JSON.stringify(api)).not.toContain(api.token);
    expect(api.loginUrl).toBe(`http://127.0.0.1:${port}/login?token=${api.token}`);
    expect(api.url).toBe(`http://127.0.0.1:${port}/`);
  });
});

describe('authentication', () => {
  it('refuses a call without a token, with a wrong one, or with a malformed header', async () => {
    const bare = await ask(port, { method: 'POST', path: '/api/v1/fleet', headers: { 'content-type': 'application/json' }, body: '{}' });
    expectRefusal(bare, 401, 'OP_UNAUTHORIZED');
    expect(bare.headers['www-authenticate']).toBe('Bearer realm="lmgw-operator"');
    expectRefusal(await callApi(port, `${api.token.slice(0, -1)}x`, 'fleet', {}), 401, 'OP_UNAUTHORIZED');
    expectRefusal(await callApi(port, '', 'fleet', {}), 401, 'OP_UNAUTHORIZED');
    expectRefusal(await callApi(port, api.token, 'fleet', {}, { authorization: `Basic ${api.token}` }), 401, 'OP_UNAUTHORIZED');
    // A wrong header is not rescued by a right cookie.
    const cookie = `lmgw_operator_${port}=${api.token}`;
    expectRefusal(await callApi(port, 'wrong', 'fleet', {}, { cookie }), 401, 'OP_UNAUTHORIZED');
    expect(service.calls).toEqual([]);
  });

  it('logs a browser in: 303 to / with an HttpOnly SameSite=Strict cookie, the token gone from the URL', async () => {
    const login = await ask(port, { path: `/login?token=${api.token}` });
    expect(login.status).toBe(303);
    expect(login.headers.location).toBe('/');
    const setCookie = login.headers['set-cookie'] ?? [];
    expect(setCookie).toHaveLength(1);
    const cookie = setCookie[0] ?? '';
    expect(cookie).toMatch(new RegExp(`^lmgw_operator_${port}=${api.token};`));
    expect(cookie.split(';').map((p) => p.trim())).toEqual(expect.arrayContaining(['HttpOnly', 'SameSite=Strict', 'Path=/']));
    expect(login.headers['cache-control']).toBe('no-store');
    expect(login.headers['referrer-policy']).toBe('no-referrer');

    const pair = cookie.split(';')[0] ?? '';
    const origin = `http://127.0.0.1:${port}`;
    const viaCookie = await ask(port, { method: 'POST', path: '/api/v1/fleet', headers: { cookie: pair, origin, 'content-type': 'application/json' }, body: '{}' });
    expect(viaCookie.status, viaCookie.text).toBe(200);
    expect(viaCookie.json).toEqual({ result: { canned: 'fleet' } });
  });

  it('sets no cookie for a wrong or missing token', async () => {
    for (const path of ['/login?token=wrong', '/login', `/login?token=${api.token}x`]) {
      const answer = await ask(port, { path });
      expectRefusal(answer, 401, 'OP_UNAUTHORIZED');
      expect(answer.headers['set-cookie']).toBeUndefined();
    }
  });

  it('accepts the token only from this port\'s cookie, whatever else the browser sends', async () => {
    const origin = `http://127.0.0.1:${port}`;
    const post = (cookie: string): Promise<Answer> =>
      ask(port, { method: 'POST', path: '/api/v1/info', headers: { cookie, origin, 'content-type': 'application/json' }, body: '{}' });
    expectRefusal(await post(`lmgw_operator_1=${api.token}`), 401, 'OP_UNAUTHORIZED');
    expectRefusal(await post(`lmgw_operator_${port}=planted`), 401, 'OP_UNAUTHORIZED');
    // Another local site on another port may plant a cookie of our name; the right one still counts.
    expect((await post(`lmgw_operator_${port}=planted; lmgw_operator_${port}=${api.token}`)).status).toBe(200);
  });
});

describe('Host and Origin (DNS rebinding, cross-site requests)', () => {
  it('refuses a request whose Host is not this API, even with the token', async () => {
    for (const host of [`evil.example:${port}`, `127.0.0.1:${port + 1}`, `127.0.0.1`, `localhost.evil.example:${port}`]) {
      expectRefusal(await callApi(port, api.token, 'fleet', {}, { host }), 403, 'OP_FORBIDDEN_ORIGIN');
      expectRefusal(await ask(port, { path: '/', headers: { host } }), 403, 'OP_FORBIDDEN_ORIGIN');
    }
    expect(service.calls).toEqual([]);
  });

  it('answers to the loopback names of its port', async () => {
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`]) {
      expect((await callApi(port, api.token, 'info', {}, { host })).status, host).toBe(200);
    }
  });

  it('refuses a request from another origin, and an Origin that is not the Host\'s', async () => {
    for (const origin of ['http://evil.example', 'null', `https://127.0.0.1:${port}`, `http://localhost:${port}`, `http://127.0.0.1:${port}.evil.example`]) {
      expectRefusal(await callApi(port, api.token, 'restoreAll', {}, { origin }), 403, 'OP_FORBIDDEN_ORIGIN');
    }
    expect(service.calls).toEqual([]);
    expect((await callApi(port, api.token, 'restoreAll', {}, { origin: `http://127.0.0.1:${port}` })).status).toBe(200);
    expect((await callApi(port, api.token, 'info', {}, { origin: `http://localhost:${port}`, host: `localhost:${port}` })).status).toBe(200);
  });

  it('never answers with CORS headers, not even to a preflight', async () => {
    const preflight = await ask(port, {
      method: 'OPTIONS',
      path: '/api/v1/restoreAll',
      headers: { origin: `http://127.0.0.1:${port}`, 'access-control-request-method': 'POST' },
    });
    expect(preflight.status).not.toBe(200);
    for (const a of [preflight, await callApi(port, api.token, 'info', {}, { origin: `http://127.0.0.1:${port}` })]) {
      expect(Object.keys(a.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
    }
  });
});

describe('calls', () => {
  it.each(GOOD_CALLS)('$method reaches the service with its params mapped, the operator for operations', async ({ method, params, args, operation }) => {
    const answer = await callApi(port, api.token, method, params);
    expect(answer.status, answer.text).toBe(200);
    expect(answer.headers['cache-control']).toBe('no-store');
    expect(answer.json).toEqual({ result: method === 'setTarget' ? null : { canned: method } });
    expect(service.calls).toEqual([{ method, args, ...(operation ? { ctx: { operator: 'operator' } } : {}) }]);
  });

  it.each(BAD_CALLS)('$method with a bad $field: 400 naming the method and the field, the service untouched', async ({ method, params, field }) => {
    const message = expectRefusal(await callApi(port, api.token, method, params), 400, 'OP_BAD_REQUEST');
    expect(message.startsWith(`${method}: ${field ? `${field}: ` : ''}`), message).toBe(true);
    expect(service.calls).toEqual([]);
  });

  it('an empty body is {} for the calls without params', async () => {
    const answer = await ask(port, { method: 'POST', path: '/api/v1/restoreAll', headers: { authorization: `Bearer ${api.token}`, 'content-type': 'application/json' }, body: '' });
    expect(answer.status, answer.text).toBe(200);
    expect(service.calls).toEqual([{ method: 'restoreAll', ctx: { operator: 'operator' }, args: [] }]);
  });

  it('unknown methods are 404 OP_BAD_REQUEST; nothing inherited is callable', async () => {
    for (const m of ['nope', 'subscribe', '__proto__', 'constructor', 'toString', 'info/x', '', '%66leet']) {
      expectRefusal(await callApi(port, api.token, m, {}), 404, 'OP_BAD_REQUEST');
    }
    expectRefusal(await ask(port, { method: 'POST', path: '/api/v2/fleet', headers: { authorization: `Bearer ${api.token}`, 'content-type': 'application/json' }, body: '{}' }), 404, 'OP_BAD_REQUEST');
    expect(service.calls).toEqual([]);
  });

  it('GET (or anything but POST) on /api is 405', async () => {
    for (const [method, path] of [['GET', '/api/v1/fleet'], ['GET', '/api'], ['PUT', '/api/v1/fleet'], ['DELETE', '/api/v1/restoreAll']] as const) {
      const answer = await ask(port, { method, path, headers: { authorization: `Bearer ${api.token}` } });
      expectRefusal(answer, 405, 'OP_BAD_REQUEST');
      expect(answer.headers.allow).toBe('POST');
    }
    // The event stream path without an upgrade says what it is.
    expectRefusal(await ask(port, { path: '/api/v1/events', headers: { authorization: `Bearer ${api.token}` } }), 426, 'OP_BAD_REQUEST');
  });

  it('the body must be JSON: 415 for another or no Content-Type', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=latin1', 'application/jsonp']) {
      expectRefusal(await callApi(port, api.token, 'fleet', {}, { 'content-type': type }), 415, 'OP_BAD_REQUEST');
    }
    expectRefusal(await ask(port, { method: 'POST', path: '/api/v1/fleet', headers: { authorization: `Bearer ${api.token}` }, body: '{}' }), 415, 'OP_BAD_REQUEST');
    expect((await callApi(port, api.token, 'fleet', {}, { 'content-type': 'Application/JSON; charset=UTF-8' })).status).toBe(200);
  });

  it('a body over 64 KiB is 413, with or without a Content-Length', async () => {
    const big = JSON.stringify({ scope: { kind: 'fleet' }, selector: { kind: 'priority', maxPriority: 1 }, durationSeconds: 60, note: 'x'.repeat(70_000) });
    const headers = { authorization: `Bearer ${api.token}`, 'content-type': 'application/json' };
    expectRefusal(await ask(port, { method: 'POST', path: '/api/v1/startShed', headers, body: big }), 413, 'OP_BAD_REQUEST');
    expectRefusal(await ask(port, { method: 'POST', path: '/api/v1/startShed', headers, body: big, chunked: true }), 413, 'OP_BAD_REQUEST');
    expect(service.calls).toEqual([]);
    // The limit is the body, not the note: a 60 KiB body gets as far as validation.
    const fits = JSON.stringify({ gatewayId: 'x'.repeat(60_000) });
    expectRefusal(await ask(port, { method: 'POST', path: '/api/v1/gateway', headers, body: fits }), 400, 'OP_BAD_REQUEST');
  });

  it('bad JSON or bad UTF-8 is 400', async () => {
    const headers = { authorization: `Bearer ${api.token}`, 'content-type': 'application/json' };
    for (const body of ['{"gatewayId":', 'gw-1', "{'gatewayId':'gw-1'}", Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])]) {
      const message = expectRefusal(await ask(port, { method: 'POST', path: '/api/v1/gateway', headers, body }), 400, 'OP_BAD_REQUEST');
      expect(message).toBe('gateway: the body is not valid JSON (UTF-8)');
    }
  });

  describe('errors from the service', () => {
    const cases: [ErrorCode, number][] = [
      ['OP_BAD_REQUEST', 400],
      ['OP_NOT_FOUND', 404],
      ['OP_GATEWAY_OFFLINE', 409],
      ['OP_EVENT_ENDED', 409],
      ['STORE_UNAVAILABLE', 503],
      ['STORE_NEWER_SCHEMA', 503],
      ['OP_TIMED_OUT', 500],
    ];
    it.each(cases)('LmgwError %s answers %i with its code and message, from a query and from an operation', async (code, status) => {
      service.failWith = new LmgwError(code, `it says ${code}`);
      for (const [method, params] of [['gateway', { gatewayId: 'gw-9' }], ['cancelShed', { eventId: 'e9' }]] as const) {
        const message = expectRefusal(await callApi(port, api.token, method, params), status, code);
        expect(message).toBe(`it says ${code}`);
      }
    });

    it('answers an operation only once its writes are durable, a query without waiting; a failed fsync makes the operation a 503', async () => {
      expect((await callApi(port, api.token, 'fleet', {})).status).toBe(200);
      expect(service.durableCalls).toBe(0);
      const cancel = ['cancelShed', { eventId: 'e9' }] as const;
      expect((await callApi(port, api.token, ...cancel)).status).toBe(200);
      expect(service.durableCalls).toBe(1);
      service.durableFailsWith = new LmgwError('STORE_UNAVAILABLE', 'the hub database /d/hub.db is unavailable (syncing the WAL): EIO');
      const message = expectRefusal(await callApi(port, api.token, ...cancel), 503, 'STORE_UNAVAILABLE');
      expect(message).toContain('syncing the WAL');
    });

    it('any other exception is a 500 that does not leak its message, which goes to the log with its stack', async () => {
      const lines: string[] = [];
      const own = await startApi({ logger: captureLogger(lines) });
      service.failWith = new Error('SQLITE_CORRUPT: /var/lib/lmgw/hub.sqlite page 7');
      for (const [method, params] of [['fleet', {}], ['startShed', GOOD_CALLS.find((c) => c.method === 'startShed')?.params]] as const) {
        const answer = await callApi(own.port, own.token, method, params);
        const message = expectRefusal(answer, 500, 'OP_INTERNAL');
        expect(answer.text).not.toContain('SQLITE');
        expect(answer.text).not.toContain('/var/lib');
        const ref = /ref ([0-9a-f]{12})/.exec(message)?.[1] ?? 'none';
        const logged = lines.map((l) => JSON.parse(l) as { ref?: string; err?: { message: string; stack: string } }).find((l) => l.ref === ref);
        expect(logged?.err?.message).toContain('SQLITE_CORRUPT');
        expect(logged?.err?.stack).toContain('api-server.test.ts');
      }
      await own.close();
    });
  });
});

describe('security headers', () => {
  const CSP_PARTS = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ];

  it('are on every response: page, file, call, refusal', async () => {
    const answers = [
      await ask(port, { path: '/' }),
      await ask(port, { path: '/assets/app.js' }),
      await ask(port, { path: '/nope.js' }),
      await callApi(port, api.token, 'fleet', {}),
      await callApi(port, 'wrong', 'fleet', {}),
      await ask(port, { path: '/', headers: { host: 'evil.example' } }),
    ];
    for (const a of answers) {
      const csp = a.headers['content-security-policy'] ?? '';
      for (const part of CSP_PARTS) expect(csp).toContain(part);
      expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
      expect(a.headers['x-content-type-options']).toBe('nosniff');
      expect(a.headers['referrer-policy']).toBe('no-referrer');
      expect(a.headers['x-frame-options']).toBe('DENY');
    }
  });

  it('connect-src allows the event stream of this very origin and nothing else', async () => {
    expect((await ask(port, { path: '/' })).headers['content-security-policy']).toContain(`connect-src 'self' ws://127.0.0.1:${port};`);
    expect((await ask(port, { path: '/', headers: { host: `localhost:${port}` } })).headers['content-security-policy']).toContain(`connect-src 'self' ws://localhost:${port};`);
    // A refused Host is never echoed into the policy.
    expect((await ask(port, { path: '/', headers: { host: 'evil.example' } })).headers['content-security-policy']).toContain("connect-src 'self';");
  });
});

describe('static files', () => {
  it('serves the renderer with the right content types, index.html at /', async () => {
    const expected: [string, string, string][] = [
      ['/', 'text/html; charset=utf-8', '<!doctype html>'],
      ['/index.html', 'text/html; charset=utf-8', '<!doctype html>'],
      ['/assets/app.js', 'text/javascript; charset=utf-8', 'console.log'],
      ['/assets/app.css', 'text/css; charset=utf-8', 'body{}'],
      ['/logo.svg', 'image/svg+xml', '<svg'],
      ['/font.woff2', 'font/woff2', 'wOF2'],
      ['/alias.js', 'text/javascript; charset=utf-8', 'console.log'],
    ];
    for (const [path, type, start] of expected) {
      const a = await ask(port, { path });
      expect(a.status, path).toBe(200);
      expect(a.headers['content-type']).toBe(type);
      expect(a.text.startsWith(start), path).toBe(true);
    }
    const head = await ask(port, { method: 'HEAD', path: '/assets/app.js' });
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String('console.log("app");'.length));
    expect(head.text).toBe('');
  });

  it('answers index.html for client-side routes (no extension), 404 for a missing file', async () => {
    for (const path of ['/fleet', '/gateways/gw-1', '/events/eAbC?tab=audit']) {
      const a = await ask(port, { path });
      expect(a.status, path).toBe(200);
      expect(a.text).toContain('<title>LMGW</title>');
      expect(a.headers['cache-control']).toBe('no-store');
    }
    expectRefusal(await ask(port, { path: '/assets/missing.js' }), 404, 'OP_NOT_FOUND');
  });

  it('never serves anything outside the static directory', async () => {
    const attempts = [
      '/../package.json',
      '/../secret.txt',
      '/assets/../../secret.txt',
      '/%2e%2e/package.json',
      '/%2E%2E/secret.txt',
      '/.%2e/secret.txt',
      '/%2e%2e%2fsecret.txt',
      '/assets/..%2f..%2fsecret.txt',
      '/..%5csecret.txt',
      '/assets%2f..%2f..%2fsecret.txt',
      '/%252e%252e/secret.txt',
      '/escape.txt',
      '/up/secret.txt',
      '/up/package.json',
      '/assets/app.js%00.png',
      '/.env',
      '/%2eenv',
      '/.git/config.txt',
      '//etc/passwd.txt',
      '/%2fetc%2fpasswd.txt',
    ];
    for (const path of attempts) {
      const a = await ask(port, { path });
      expect(a.text, path).not.toContain(SECRET);
      expectRefusal(a, 404, 'OP_NOT_FOUND');
    }
  });

  it('answers only GET and HEAD outside /api', async () => {
    const a = await ask(port, { method: 'POST', path: '/', body: 'x' });
    expectRefusal(a, 405, 'OP_BAD_REQUEST');
    expect(a.headers.allow).toBe('GET, HEAD');
  });

  it('says the UI is not built when there is no renderer, and serves nothing else', async () => {
    for (const staticDir of [undefined, join(tmp.dir, 'no-such-dir')]) {
      const own = await startApi(staticDir === undefined ? {} : { staticDir });
      const page = await ask(own.port, { path: '/' });
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(page.text).toContain('not built');
      expect(page.text).not.toMatch(/<script|<style|style=/);
      expectRefusal(await ask(own.port, { path: '/assets/app.js' }), 404, 'OP_NOT_FOUND');
      // The API works without a UI.
      expect((await callApi(own.port, own.token, 'info', {})).status).toBe(200);
      await own.close();
    }
  });
});

describe('the event stream', () => {
  const origin = (): string => `http://127.0.0.1:${port}`;
  const cookie = (): string => `lmgw_operator_${port}=${api.token}`;

  it('a browser (cookie and its own Origin) receives every event as one JSON text frame; closing unsubscribes', async () => {
    const d = await dialEvents(port, { origin: origin(), headers: { cookie: cookie() } });
    expect(d.kind).toBe('open');
    if (d.kind !== 'open') return;
    expect(service.listeners.size).toBe(1);
    const load: OperatorEvent = {
      type: 'load',
      time: 1_700_000_000_000,
      fleet: { currentKw: 12.5, intervalStart: 0, intervalEnd: 900_000, averageKw: 11, projectedKw: 12, coverage: 0.5, peakKw: 40, peakIntervalStart: 0, targetKw: null },
      gateways: {},
    };
    service.emit(ALARM);
    service.emit(load);
    await waitFor(() => d.messages.length === 2, 5000, 'two events');
    expect(d.messages).toEqual([ALARM, load]);
    const done = closed(d.ws);
    d.ws.close();
    await done;
    await waitFor(() => service.listeners.size === 0, 5000, 'unsubscribe');
  });

  it('a script with the bearer header needs no Origin', async () => {
    const d = await dialEvents(port, { headers: { authorization: `Bearer ${api.token}` } });
    expect(d.kind).toBe('open');
    if (d.kind === 'open') d.ws.close();
  });

  it('is refused without Origin and bearer, with a wrong Origin, a wrong Host, without a token, or at another path', async () => {
    const refusals: [string, Parameters<typeof dialEvents>[1], number, ErrorCode][] = [
      ['cookie only, no Origin', { headers: { cookie: cookie() } }, 403, 'OP_FORBIDDEN_ORIGIN'],
      ['nothing at all', {}, 403, 'OP_FORBIDDEN_ORIGIN'],
      ['cookie, foreign Origin', { origin: 'http://evil.example', headers: { cookie: cookie() } }, 403, 'OP_FORBIDDEN_ORIGIN'],
      ['bearer, foreign Origin', { origin: 'http://evil.example', headers: { authorization: `Bearer ${api.token}` } }, 403, 'OP_FORBIDDEN_ORIGIN'],
      ['rebinding Host', { origin: `http://evil.example:${port}`, headers: { host: `evil.example:${port}`, cookie: cookie() } }, 403, 'OP_FORBIDDEN_ORIGIN'],
      ['own Origin, no token', { origin: origin() }, 401, 'OP_UNAUTHORIZED'],
      ['own Origin, wrong cookie', { origin: origin(), headers: { cookie: `lmgw_operator_${port}=nope` } }, 401, 'OP_UNAUTHORIZED'],
      ['wrong bearer', { headers: { authorization: 'Bearer nope' } }, 401, 'OP_UNAUTHORIZED'],
      ['another path', { path: '/api/v1/fleet', headers: { authorization: `Bearer ${api.token}` } }, 404, 'OP_BAD_REQUEST'],
    ];
    for (const [what, options, status, code] of refusals) {
      const d = await dialEvents(port, options);
      expect(d.kind, what).toBe('refused');
      if (d.kind !== 'refused') continue;
      expect(d.status, what).toBe(status);
      expect(d.body, what).toMatchObject({ error: { code } });
    }
    expect(service.listeners.size).toBe(0);
  });

  it('closes a client that sends anything but a watch list (1008) or an oversized frame (1009)', async () => {
    const tooMany = JSON.stringify({ type: 'watch', gateways: Array.from({ length: MAX_WATCHED_GATEWAYS + 1 }, (_, i) => `gw-${i}`) });
    for (const [payload, code] of [['hello', 1008], ['{"type":"watch","gateways":"gw-1"}', 1008], [tooMany, 1008], ['x'.repeat(70_000), 1009]] as const) {
      const d = await dialEvents(port, { headers: { authorization: `Bearer ${api.token}` } });
      if (d.kind !== 'open') throw new Error('refused');
      const done = closed(d.ws);
      d.ws.send(payload);
      expect((await done).code).toBe(code);
      await waitFor(() => service.listeners.size === 0, 5000, 'unsubscribe');
    }
  });

  it('the load event carries the fleet, and the figures of the gateways this client watches only', async () => {
    const d = await dialEvents(port, { headers: { authorization: `Bearer ${api.token}` } });
    if (d.kind !== 'open') throw new Error('refused');
    const figures = { currentKw: 1, intervalStart: 0, intervalEnd: 900_000, averageKw: 1, projectedKw: 1, coverage: 0.5, peakKw: 2, peakIntervalStart: 0, targetKw: null };
    const load: OperatorEvent = { type: 'load', time: 1, fleet: figures, gateways: { 'gw-1': figures, 'gw-2': { ...figures, currentKw: 2 }, 'gw-3': figures } };
    service.emit(load);
    await waitFor(() => d.messages.length === 1, 5000, 'the first load event');
    expect(d.messages[0]).toEqual({ ...load, gateways: {} });
    d.ws.send(JSON.stringify({ type: 'watch', gateways: ['gw-2', 'gw-9'] }));
    await waitFor(() => [...service.watched.values()].some((w) => w !== 'all' && w.size > 0), 5000, 'the watch list to arrive');
    expect([...service.watched.values()].map((w) => (w === 'all' ? w : [...w]))).toEqual([['gw-2', 'gw-9']]);
    service.emit(load);
    await waitFor(() => d.messages.length === 2, 5000, 'the second load event');
    expect(d.messages[1]).toEqual({ ...load, gateways: { 'gw-2': { ...figures, currentKw: 2 } } });
    const done = closed(d.ws);
    d.ws.close();
    await done;
    await waitFor(() => service.watched.size === 0, 5000, 'the watch list to go with the stream');
  });

  it('a consumer that stops reading gets no more events past a bounded backlog, then a resync marker once it reads again', async () => {
    const d = await dialEvents(port, { headers: { authorization: `Bearer ${api.token}` } });
    if (d.kind !== 'open') throw new Error('refused');
    d.ws.pause();
    const big = (n: number): OperatorEvent => ({ ...ALARM, alarm: { ...(ALARM.type === 'alarm' ? ALARM.alarm : { id: '', code: '', severity: 'alarm', message: '', raisedAt: 0 }), id: `a${n}`, message: 'x'.repeat(256 * 1024) } });
    // 64 MiB of events: far more than the kernel's socket buffers and the backlog allowed.
    for (let n = 0; n < 256; n++) {
      service.emit(big(n));
      await new Promise((r) => setImmediate(r));
    }
    expect(service.listeners.size).toBe(1);
    d.ws.resume();
    // The next event after it has caught up brings the marker, then events flow again.
    await new Promise((r) => setTimeout(r, 500));
    service.emit(ALARM);
    await waitFor(() => d.messages.some((m) => (m as OperatorEvent).type === 'resync'), 10_000, 'a resync marker');
    const got = d.messages as OperatorEvent[];
    const at = got.findIndex((m) => m.type === 'resync');
    // Whole events in order up to the marker, some dropped, then the next ones.
    const ids = got.slice(0, at).map((m) => (m.type === 'alarm' ? Number(m.alarm.id.slice(1)) : -1));
    expect(ids).toEqual(ids.map((_, i) => i));
    // What the hub kept for it is bounded by the backlog limit (2 MiB) and the kernel's socket
    // buffers, not by the 64 MiB emitted: the rest was dropped, not queued.
    expect(ids.length).toBeGreaterThan(0);
    expect(ids.length * 256 * 1024).toBeLessThan(16 * 1024 * 1024);
    expect(got.slice(at + 1)).toEqual([ALARM]);
    const done = closed(d.ws);
    d.ws.close();
    await done;
    await waitFor(() => service.listeners.size === 0, 5000, 'unsubscribe');
  });

  it('close() ends the streams with 1001 and the API stops answering', async () => {
    const own = await startApi();
    const d = await dialEvents(own.port, { headers: { authorization: `Bearer ${own.token}` } });
    if (d.kind !== 'open') throw new Error('refused');
    const done = closed(d.ws);
    await own.close();
    expect((await done).code).toBe(1001);
    expect(service.listeners.size).toBe(0);
    await expect(ask(own.port, { path: '/' })).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe('binding', () => {
  it('warns when bound beyond loopback, and still checks Host', async () => {
    const lines: string[] = [];
    const own = await startApi({ host: '0.0.0.0', logger: captureLogger(lines) });
    const warning = lines.map((l) => JSON.parse(l) as { level: string; msg: string }).find((l) => l.level === 'warn');
    expect(warning?.msg).toMatch(/not loopback.*TLS reverse proxy/);
    expect(own.url).toBe(`http://127.0.0.1:${own.port}/`);
    expect((await callApi(own.port, own.token, 'info', {})).status).toBe(200);
    expectRefusal(await callApi(own.port, own.token, 'info', {}, { host: `evil.example:${own.port}` }), 403, 'OP_FORBIDDEN_ORIGIN');
    await own.close();
  });

  it('does not warn on loopback, and passes its token name to operations', async () => {
    const lines: string[] = [];
    const own = await startApi({ tokenName: 'control-room', logger: captureLogger(lines) });
    expect(lines.map((l) => (JSON.parse(l) as { level: string }).level).filter((level) => level !== 'debug' && level !== 'info')).toEqual([]);
    await callApi(own.port, own.token, 'restoreAll', {});
    expect(service.calls).toEqual([{ method: 'restoreAll', ctx: { operator: 'control-room' }, args: [] }]);
    await own.close();
  });

  it('refuses a bad token name or port before writing anything', async () => {
    const tokenFile = join(tmp.dir, 'never', 'operator-token');
    await expect(startOperatorApi({ service, port: 0, tokenFile, tokenName: 'a b' })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    await expect(startOperatorApi({ service, port: 70_000, tokenFile })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    expect(() => statSync(tokenFile)).toThrow(/ENOENT/);
  });

  it('removes its token file when the port is taken', async () => {
    const tokenFile = join(tmp.dir, 'busy', 'operator-token');
    await expect(startOperatorApi({ service, port, tokenFile })).rejects.toThrow(/EADDRINUSE/);
    expect(() => statSync(tokenFile)).toThrow(/ENOENT/);
  });
});
