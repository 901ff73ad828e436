/**
 * The health and metrics endpoints both programs serve (the hub on its operator API or a listener of
 * its own, the agent on loopback): what each path answers, decided once here; each program only
 * binds a socket and supplies its checks and its Prometheus text (docs/operations.md, "Health and
 * metrics").
 *
 *   GET /healthz  200 {"status":"alive"}: the process answers (a liveness probe; nothing is checked)
 *   GET /readyz   200 {"status":"ready","checks":{…}} or 503 {"status":"not ready","failed":[…],"checks":{…}}
 *   GET /metrics  200 Prometheus text format (version 0.0.4)
 *
 * None of them needs a token: they carry no secret and no gateway identity, only states and counts.
 */

export const HEALTH_PATHS = Object.freeze({ alive: '/healthz', ready: '/readyz', metrics: '/metrics' });

/** One readiness check's verdict; `detail` says what was found, in words an operator can act on. */
export interface CheckResult {
  ok: boolean;
  detail: string;
}

export type ReadinessReport = Readonly<Record<string, CheckResult>>;

/** What a program plugs into the endpoints. */
export interface HealthSource {
  /** Runs every readiness check (bounded in time by the source). */
  readiness(): Promise<ReadinessReport>;
  /** The Prometheus exposition and its content type. */
  metrics(): Promise<{ contentType: string; text: string }>;
}

export interface HealthResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A loopback name or address (127.0.0.0/8, ::1, localhost): where an endpoint without a token may bind freely. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

export function isHealthPath(path: string): boolean {
  return path === HEALTH_PATHS.alive || path === HEALTH_PATHS.ready || path === HEALTH_PATHS.metrics;
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): HealthResponse {
  return { status, headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers }, body: JSON.stringify(body) };
}

/** What answerHealth needs of an HTTP request and response (node:http's satisfy it; this file runs anywhere). */
export interface HealthRequest {
  method?: string | undefined;
  url?: string | undefined;
}
export interface HealthReply {
  readonly headersSent: boolean;
  writeHead(status: number, headers: Record<string, string>): unknown;
  end(body?: string): unknown;
}

/**
 * Answers one request of a listener that serves only these paths: the health answer, or 404 for any
 * other path, or a bare 500 when the source failed (`onError` gets why, for the log).
 */
export async function answerHealth(req: HealthRequest, res: HealthReply, source: HealthSource, onError: (err: unknown) => void): Promise<void> {
  const path = (req.url ?? '').split('?')[0] ?? '';
  try {
    const answer = isHealthPath(path)
      ? await healthResponse(req.method ?? 'GET', path, source)
      : json(404, { error: { code: 'OP_NOT_FOUND', message: `this listener serves ${HEALTH_PATHS.alive}, ${HEALTH_PATHS.ready} and ${HEALTH_PATHS.metrics} only` } });
    res.writeHead(answer.status, { ...answer.headers, 'content-length': String(utf8Length(answer.body)) });
    res.end(req.method === 'HEAD' ? undefined : answer.body);
  } catch (err) {
    onError(err);
    if (!res.headersSent) res.writeHead(500, { 'content-length': '0' });
    res.end();
  }
}

/** Bytes of `text` in UTF-8 (no TextEncoder in every runtime this file is checked for). */
function utf8Length(text: string): number {
  let n = 0;
  for (const ch of text) {
    const c = ch.codePointAt(0) ?? 0;
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
  }
  return n;
}

/** The answer for a health path (see isHealthPath); a method other than GET or HEAD is a 405. */
export async function healthResponse(method: string, path: string, source: HealthSource): Promise<HealthResponse> {
  if (method !== 'GET' && method !== 'HEAD') {
    return json(405, { error: { code: 'OP_BAD_REQUEST', message: `${path} takes GET` } }, { allow: 'GET, HEAD' });
  }
  if (path === HEALTH_PATHS.alive) return json(200, { status: 'alive' });
  if (path === HEALTH_PATHS.ready) {
    const checks = await source.readiness();
    const failed = Object.entries(checks)
      .filter(([, c]) => !c.ok)
      .map(([name]) => name);
    return failed.length === 0 ? json(200, { status: 'ready', checks }) : json(503, { status: 'not ready', failed, checks });
  }
  const { contentType, text } = await source.metrics();
  return { status: 200, headers: { 'content-type': contentType, 'cache-control': 'no-store' }, body: text };
}

/** A check: its verdict, or an exception (a failed check whose message is the detail). */
export type Check = () => CheckResult | Promise<CheckResult>;

/** The timer functions runChecks needs (injected: this file runs anywhere; pass the global ones). */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * Runs the checks at once; each gets `timeoutMs` (a hung disk or NFS mount must not hang the probe
 * that asks about it) and fails with what it threw or with the timeout.
 */
export async function runChecks(checks: Readonly<Record<string, Check>>, timeoutMs: number, timers: Timers): Promise<ReadinessReport> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]): Promise<[string, CheckResult]> => {
      let timer: unknown;
      const timeout = new Promise<CheckResult>((resolve) => {
        timer = timers.setTimeout(() => resolve({ ok: false, detail: `no answer within ${timeoutMs} ms` }), timeoutMs);
      });
      try {
        return [name, await Promise.race([Promise.resolve().then(check), timeout])];
      } catch (err) {
        return [name, { ok: false, detail: err instanceof Error ? err.message : String(err) }];
      } finally {
        timers.clearTimeout(timer);
      }
    }),
  );
  return Object.fromEntries(entries);
}

/** The part of node:fs/promises a write probe needs (injected: this file runs anywhere). */
export interface ProbeFs {
  open(path: string, flags: string, mode: number): Promise<{ write(data: Uint8Array): Promise<unknown>; datasync(): Promise<void>; close(): Promise<void> }>;
  rm(path: string, options: { force: boolean }): Promise<void>;
}

/** Bytes the write probe writes: a whole page, so a full disk cannot hide it in an inode or a partial block. */
const PROBE_BYTES = 4096;

/**
 * A real write: creates `file`, writes a page, syncs it to the device and removes it. A full disk
 * (ENOSPC), a read-only remount (EROFS) or lost permissions fail it; the detail names the errno,
 * not the path (readyz answers without a token).
 */
export async function probeWritable(fs: ProbeFs, file: string): Promise<CheckResult> {
  try {
    await fs.rm(file, { force: true });
    const handle = await fs.open(file, 'wx', 0o600);
    try {
      await handle.write(new Uint8Array(PROBE_BYTES));
      await handle.datasync();
    } finally {
      await handle.close();
    }
    return { ok: true, detail: 'the data directory takes writes' };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return { ok: false, detail: `the data directory cannot be written (${typeof code === 'string' ? code : 'error'}${code === 'ENOSPC' ? ': the disk is full' : ''})` };
  } finally {
    await fs.rm(file, { force: true }).catch(() => undefined);
  }
}
