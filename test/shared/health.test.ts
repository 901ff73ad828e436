import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { answerHealth, healthResponse, isLoopbackHost, probeWritable, runChecks, type HealthSource } from '../../shared/health.js';
import { tempDir } from '../helpers/processes.js';

const TIMERS = { setTimeout, clearTimeout };

function aSource(over: Partial<HealthSource> = {}): HealthSource {
  return {
    readiness: () => Promise.resolve({ store: { ok: true, detail: 'fine' } }),
    metrics: () => Promise.resolve({ contentType: 'text/plain; version=0.0.4; charset=utf-8', text: 'x_total 1\n' }),
    ...over,
  };
}

describe('runChecks', () => {
  it('fails a check that throws, and one that does not answer in time, without waiting for it', async () => {
    const started = Date.now();
    const report = await runChecks(
      {
        good: () => ({ ok: true, detail: 'ok' }),
        thrown: () => {
          throw new Error('boom');
        },
        rejected: () => Promise.reject(new Error('nope')),
        hung: () => new Promise(() => undefined),
      },
      200,
      TIMERS,
    );
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(report).toEqual({
      good: { ok: true, detail: 'ok' },
      thrown: { ok: false, detail: 'boom' },
      rejected: { ok: false, detail: 'nope' },
      hung: { ok: false, detail: 'no answer within 200 ms' },
    });
  });
});

describe('healthResponse and answerHealth', () => {
  it('answers 503 naming the failed checks, 405 for a POST, and 404 for another path on a listener of their own', async () => {
    const source = aSource({ readiness: () => Promise.resolve({ store: { ok: false, detail: 'full' }, link: { ok: true, detail: 'up' } }) });
    const ready = await healthResponse('GET', '/readyz', source);
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.body)).toEqual({ status: 'not ready', failed: ['store'], checks: { store: { ok: false, detail: 'full' }, link: { ok: true, detail: 'up' } } });
    expect((await healthResponse('POST', '/metrics', source)).status).toBe(405);
    const replies: { status: number; headers: Record<string, string>; body: string | undefined }[] = [];
    const res = (): Parameters<typeof answerHealth>[1] & { headersSent: boolean } => {
      const r = { status: 0, headers: {} as Record<string, string>, body: undefined as string | undefined };
      replies.push(r);
      return {
        headersSent: false,
        writeHead: (status: number, headers: Record<string, string>) => Object.assign(r, { status, headers }),
        end: (body?: string) => (r.body = body),
      };
    };
    await answerHealth({ method: 'GET', url: '/api/v1/fleet' }, res(), source, () => undefined);
    await answerHealth({ method: 'GET', url: '/metrics?x=1' }, res(), source, () => undefined);
    await answerHealth({ method: 'HEAD', url: '/healthz' }, res(), source, () => undefined);
    const errors: unknown[] = [];
    await answerHealth({ method: 'GET', url: '/metrics' }, res(), aSource({ metrics: () => Promise.reject(new Error('registry broke')) }), (e) => errors.push(e));
    expect(replies.map((r) => r.status)).toEqual([404, 200, 200, 500]);
    expect(replies[1]).toMatchObject({ body: 'x_total 1\n', headers: { 'content-length': '10' } });
    expect(replies[2]?.body).toBeUndefined();
    expect(replies[2]?.headers['content-length']).toBe(String(Buffer.byteLength('{"status":"alive"}')));
    expect(errors).toHaveLength(1);
  });
});

describe('probeWritable', () => {
  const tmp = tempDir('lmgw-health-');
  afterAll(() => tmp.cleanup());

  it('writes, syncs and removes its file; a directory it cannot write fails it, naming the errno and not the path', async () => {
    const dir = join(tmp.dir, 'data');
    mkdirSync(dir);
    expect(await probeWritable({ open, rm }, join(dir, '.probe'))).toEqual({ ok: true, detail: 'the data directory takes writes' });
    expect(readdirSync(dir)).toEqual([]);
    // A missing directory (root ignores mode bits, so permissions cannot be the test here).
    const gone = await probeWritable({ open, rm }, join(dir, 'missing', '.probe'));
    expect(gone).toEqual({ ok: false, detail: 'the data directory cannot be written (ENOENT)' });
    expect(gone.detail).not.toContain(dir);
    expect(existsSync(join(dir, '.probe'))).toBe(false);
  });
});

it('isLoopbackHost knows loopback names and addresses, and nothing else', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) expect(isLoopbackHost(h), h).toBe(true);
  for (const h of ['0.0.0.0', '::', '10.0.0.5', 'console.example', '128.0.0.1']) expect(isLoopbackHost(h), h).toBe(false);
});
