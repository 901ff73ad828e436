import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LmgwError } from '../../../shared/errors.js';
import { createLogger, LOG_LEVELS, logLevelFrom, REDACTED, type LogLevel } from '../../../shared/node/log.js';
import { tempDir, waitFor } from '../../helpers/processes.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

/** A logger from the factory whose lines land in an array, parsed. */
function aLogger(level: LogLevel = 'trace', base?: Record<string, unknown>): { log: ReturnType<typeof createLogger>; lines: string[]; objects: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  const log = createLogger({ name: 'lmgw-test', level, ...(base ? { base } : {}), destination: { write: (line: string) => void lines.push(line) } });
  return { log, lines, objects: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe('the logger factory', () => {
  it('writes one JSON object per line with an ISO 8601 UTC time, the level by name, the program, pid and host', () => {
    const { log, objects } = aLogger();
    const before = Date.now();
    log.child({ component: 'link' }).info({ gatewayId: 'site-0001' }, 'gateway connected');
    const [line] = objects();
    expect(line).toMatchObject({ level: 'info', name: 'lmgw-test', pid: process.pid, component: 'link', gatewayId: 'site-0001', msg: 'gateway connected' });
    expect(line?.time).toMatch(ISO_UTC);
    expect(Math.abs(Date.parse(String(line?.time)) - before)).toBeLessThan(5_000);
    expect(typeof line?.hostname).toBe('string');
  });

  it('names every level, and writes nothing below the one it was given', () => {
    const all = aLogger('trace');
    for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const) all.log[level](`at ${level}`);
    expect(all.objects().map((l) => l.level)).toEqual(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);
    const warn = aLogger('warn');
    warn.log.info('not shown');
    warn.log.debug('not shown');
    warn.log.warn('shown');
    expect(warn.objects().map((l) => l.msg)).toEqual(['shown']);
    const silent = aLogger('silent');
    silent.log.fatal('not shown');
    expect(silent.lines).toEqual([]);
  });

  it('keeps a base of its own beside pid and host name (the desktop app names its process)', () => {
    const { log, objects } = aLogger('info', { process: 'hub' });
    log.info('started');
    expect(objects()[0]).toMatchObject({ name: 'lmgw-test', process: 'hub', pid: process.pid, hostname: expect.any(String) });
  });

  // Each kind of secret, where LMGW code or a library could put it; the secret's text never appears.
  const secrets: { kind: string; logged: Record<string, unknown>; where: (line: Record<string, unknown>) => unknown }[] = [
    { kind: 'the operator token', logged: { token: 'S3CRET-token' }, where: (l) => l.token },
    { kind: 'a token one level down', logged: { api: { token: 'S3CRET-token', url: 'http://127.0.0.1:8480/' } }, where: (l) => (l.api as Record<string, unknown>).token },
    { kind: 'the login URL (it carries the token)', logged: { loginUrl: 'http://127.0.0.1:8480/login?token=S3CRET' }, where: (l) => l.loginUrl },
    { kind: 'a proxy password', logged: { proxy: { host: 'proxy', password: 'S3CRET-pw' } }, where: (l) => (l.proxy as Record<string, unknown>).password },
    { kind: 'the CA passphrase', logged: { caPassphrase: 'S3CRET-pass' }, where: (l) => l.caPassphrase },
    { kind: 'a key passphrase', logged: { tls: { passphrase: 'S3CRET-pass' } }, where: (l) => (l.tls as Record<string, unknown>).passphrase },
    { kind: 'a private key in PEM', logged: { link: { keyPem: '-----BEGIN PRIVATE KEY-----S3CRET' } }, where: (l) => (l.link as Record<string, unknown>).keyPem },
    { kind: 'a private key by another name', logged: { privateKey: '-----BEGIN EC PRIVATE KEY-----S3CRET' }, where: (l) => l.privateKey },
    { kind: 'an Authorization header (a request)', logged: { req: { method: 'POST', headers: { authorization: 'Bearer S3CRET' } } }, where: (l) => ((l.req as Record<string, unknown>).headers as Record<string, unknown>).authorization },
    { kind: 'an Authorization header (headers alone)', logged: { headers: { authorization: 'Bearer S3CRET' } }, where: (l) => (l.headers as Record<string, unknown>).authorization },
    { kind: 'a Cookie header', logged: { req: { headers: { cookie: 'lmgw_operator_8480=S3CRET' } } }, where: (l) => ((l.req as Record<string, unknown>).headers as Record<string, unknown>).cookie },
    { kind: 'a Set-Cookie header', logged: { res: { headers: { 'set-cookie': 'lmgw_operator_8480=S3CRET; HttpOnly' } } }, where: (l) => ((l.res as Record<string, unknown>).headers as Record<string, unknown>)['set-cookie'] },
    { kind: 'a Proxy-Authorization header', logged: { headers: { 'proxy-authorization': 'Basic S3CRET' } }, where: (l) => (l.headers as Record<string, unknown>)['proxy-authorization'] },
    { kind: 'a secret', logged: { secret: 'S3CRET' }, where: (l) => l.secret },
    { kind: 'a header named in capitals', logged: { headers: { Authorization: 'Bearer S3CRET' } }, where: (l) => (l.headers as Record<string, unknown>).Authorization },
    { kind: 'a password three levels down', logged: { a: { b: { c: { password: 'S3CRET' } } } }, where: (l) => (((l.a as Record<string, unknown>).b as Record<string, unknown>).c as Record<string, unknown>).password },
    { kind: 'a password in an array', logged: { proxies: [{ host: 'p1' }, { host: 'p2', password: 'S3CRET-pw' }] }, where: (l) => ((l.proxies as Record<string, unknown>[])[1] ?? {}).password },
    { kind: 'a header in a list of requests', logged: { requests: [{ headers: { cookie: 'S3CRET' } }] }, where: (l) => (((l.requests as Record<string, unknown>[])[0] ?? {}).headers as Record<string, unknown>).cookie },
  ];
  for (const s of secrets) {
    it(`redacts ${s.kind}`, () => {
      const { log, lines, objects } = aLogger();
      log.info({ ...s.logged, gatewayId: 'site-0001' }, 'something happened');
      expect(lines[0]).not.toContain('S3CRET');
      expect(s.where(objects()[0] ?? {})).toBe(REDACTED);
      // What is not secret stays.
      expect(objects()[0]).toMatchObject({ gatewayId: 'site-0001', msg: 'something happened' });
    });
  }

  it('redacts what a child logger (a component, a gateway connection) is called with', () => {
    const { log, lines } = aLogger();
    log.child({ component: 'operator-api' }).child({ gatewayId: 'site-0001' }).warn({ req: { headers: { cookie: 'S3CRET' } } }, 'child');
    expect(lines[0]).not.toContain('S3CRET');
    expect(lines[0]).toContain(`"component":"operator-api","gatewayId":"site-0001","req":{"headers":{"cookie":"${REDACTED}"}}`);
  });

  it('redacts the fields of a logged error (a library may hang the request it sent on it), whichever way it is logged', () => {
    const { log, lines, objects } = aLogger();
    const err = Object.assign(new Error('request failed'), { token: 'S3CRET-1', options: { headers: { authorization: 'Bearer S3CRET-2' } }, status: 401 });
    log.error({ err }, 'as a field');
    log.error(err);
    expect(lines.join('')).not.toContain('S3CRET');
    for (const line of objects()) {
      expect(line.err).toMatchObject({ type: 'Error', message: 'request failed', stack: expect.stringContaining('request failed'), token: REDACTED, options: { headers: { authorization: REDACTED } }, status: 401 });
    }
    // An `err` that is no error (the message alone, as much of LMGW logs it) is written as it was.
    log.warn({ err: 'timed out' }, 'a message');
    expect(objects()[2]).toMatchObject({ err: 'timed out' });
  });

  it('ends on a cycle (an object or an array that holds itself, with a secret in it) and leaves a Buffer as it was', () => {
    const { log, lines, objects } = aLogger();
    const loop: Record<string, unknown> = { id: 'a', token: 'S3CRET' };
    loop.self = loop;
    const list: unknown[] = [{ password: 'S3CRET' }];
    list.push(list);
    log.info({ wrapped: { loop }, list, data: Buffer.from('hi') }, 'cycles');
    expect(lines[0]).not.toContain('S3CRET');
    expect(objects()[0]).toMatchObject({ wrapped: { loop: { id: 'a', token: REDACTED, self: '[Circular]' } }, list: [{ password: REDACTED }, '[Circular]'], data: { type: 'Buffer', data: [104, 105] } });
  });

  it('leaves the object it was given as it was, and what is no secret as it was', () => {
    const { log, objects } = aLogger();
    const given = { gatewayId: 'site-0001', api: { token: 'S3CRET', url: 'http://127.0.0.1:8480/' }, channels: [1, 2], tokens: 3, users: [{ password: 'S3CRET' }] };
    log.info(given, 'x');
    expect(given.api.token).toBe('S3CRET');
    expect(given.users[0]?.password).toBe('S3CRET');
    expect(objects()[0]).toMatchObject({ gatewayId: 'site-0001', api: { token: REDACTED, url: 'http://127.0.0.1:8480/' }, channels: [1, 2], tokens: 3 });
  });

  it('appends to a file, making its directory (the desktop app\'s logs)', async () => {
    const file = join(tmp.dir, 'logs', 'main.log');
    const log = createLogger({ name: 'lmgw-console', level: 'info', base: { process: 'main' }, destination: { file } });
    log.info({ passphrase: 'S3CRET' }, 'to the file');
    log.flush();
    await waitFor(() => {
      try {
        return readFileSync(file, 'utf8').includes('to the file');
      } catch {
        return false;
      }
    }, 5_000, 'the log file');
    const line = JSON.parse(readFileSync(file, 'utf8').trim()) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 'info', name: 'lmgw-console', process: 'main', passphrase: REDACTED, msg: 'to the file' });
    expect(line.time).toMatch(ISO_UTC);
  });
});

describe('LMGW_LOG_LEVEL', () => {
  it('defaults to info when unset or empty, and takes any level by name in any case', () => {
    expect(logLevelFrom({})).toBe('info');
    expect(logLevelFrom({ LMGW_LOG_LEVEL: '' })).toBe('info');
    expect(logLevelFrom({ LMGW_LOG_LEVEL: 'debug' })).toBe('debug');
    expect(logLevelFrom({ LMGW_LOG_LEVEL: 'WARN' })).toBe('warn');
    expect(logLevelFrom({ LMGW_LOG_LEVEL: ' error ' })).toBe('error');
    for (const level of LOG_LEVELS) expect(logLevelFrom({ LMGW_LOG_LEVEL: level })).toBe(level);
  });

  it('refuses anything else with one CLI_USAGE error naming the variable, the value and the allowed levels', () => {
    for (const bad of ['verbose', 'infp', '30', 'warning']) {
      let caught: unknown;
      try {
        logLevelFrom({ LMGW_LOG_LEVEL: bad });
      } catch (err) {
        caught = err;
      }
      expect(caught, bad).toBeInstanceOf(LmgwError);
      expect(caught).toMatchObject({ code: 'CLI_USAGE', message: `LMGW_LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent, not "${bad}"` });
    }
  });

  it('reads another variable with its own default when asked (lm-sim fleet: LMGW_SIM_LOG_LEVEL, default silent)', () => {
    expect(logLevelFrom({ LMGW_LOG_LEVEL: 'debug' }, 'LMGW_SIM_LOG_LEVEL', 'silent')).toBe('silent');
    expect(logLevelFrom({ LMGW_SIM_LOG_LEVEL: 'info' }, 'LMGW_SIM_LOG_LEVEL', 'silent')).toBe('info');
    expect(() => logLevelFrom({ LMGW_SIM_LOG_LEVEL: 'loud' }, 'LMGW_SIM_LOG_LEVEL', 'silent')).toThrow(/^LMGW_SIM_LOG_LEVEL must be one of .*, not "loud"$/);
  });
});
