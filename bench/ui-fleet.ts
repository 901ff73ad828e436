/**
 * The operator UI at fleet scale (issue #13, item 6, the UI's part): the real hub (`lm-console
 * --headless` from dist/, the built UI served by its operator API), 20,000 simulated gateways in
 * worker processes (agent/sim/fleet.ts: each a real mutual-TLS WebSocket with its own certificate,
 * a hello with a 4-channel profile, commands answered at once, one telemetry sample a second sent in
 * 10-s batches), and Debian's Chromium (Playwright, /usr/bin/chromium) loading the fleet view.
 *
 * The open-file limit of this machine (20,000, not raisable in the container) leaves the hub no
 * room for 20,000 sockets besides its own files: `--offline` gateways (default 100) connect once
 * first and leave, so the fleet the UI holds has every one of the N gateways, N − offline connected.
 *
 * Measured in the page (an init script, before the app's code runs):
 * - first full render: ms from the start of the navigation (the login URL, whose redirect is part of
 *   it) to the first frame where the fleet table counts every gateway (aria-rowcount = N + 1), its
 *   first row is rendered, and the count tile says how many are connected;
 * - long tasks (PerformanceObserver 'longtask', > 50 ms): count per minute and the longest, during a
 *   steady phase with the hub's 1 Hz updates flowing (heartbeat, load, telemetry-driven patches) and
 *   during a fleet-wide shed started through the operator API (until the UI shows every outcome
 *   final, plus 5 s);
 * - the JS heap (CDP Runtime.getHeapUsage, sampled every second; and after a forced GC at the end);
 * - sorting and filtering the 20,000 rows: click → the next painted frame.
 * And from outside: the bytes the page's event stream received per second.
 *
 * Run: npm run bench:ui [-- --gateways 20000 --offline 100 --steady-seconds 60 --shed-seconds 120
 *        --connect-seconds 900 --json FILE]   (--quick: 300 gateways, 10 s steady)
 * Progress on stderr, the report (Markdown) on stdout; exit 1 when a target is missed.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium, type Browser, type CDPSession, type Page } from '@playwright/test';
import { SimulatedFleet } from '../agent/sim/fleet.js';
import type { FleetSnapshot, ShedEventSummary } from '../console/hub/operator/types.js';
import { makeBenchPki, type BenchPki } from './link-pki.js';
import { bin, fmt, OtherLoad, Processes, ROOT, sleep } from './processes.js';

const log = (line: string): void => void process.stderr.write(`${line}\n`);

export const TARGETS = {
  /** ms from the page opening to the fleet view fully rendered. */
  firstRenderMs: 3_000,
  /** No long task longer than this during steady 1 Hz updates. */
  steadyLongestTaskMs: 100,
  heapMb: 250,
} as const;

export interface UiBenchOptions {
  gateways: number;
  offline: number;
  steadySeconds: number;
  shedSeconds: number;
  /** The fleet must be connected within this. */
  connectSeconds: number;
  chromium: string;
}

interface LongTasks {
  count: number;
  perMinute: number;
  longestMs: number;
  over100: number;
  seconds: number;
}

export interface UiBenchResult {
  options: UiBenchOptions;
  node: string;
  cpu: string;
  date: string;
  connected: number;
  connectSeconds: number;
  firstRenderMs: number;
  /** The same, as this process saw it: page.goto called → the page reported the render. */
  firstRenderOutsideMs: number;
  /** The first render's parts: the page's fleet request (ms since the navigation started), long tasks until the render, and one snapshot timed from here. */
  loading: { fleetRequestStartMs: number; fleetRequestEndMs: number; longTasks: number; longestTaskMs: number; snapshotMs: number; snapshotBytes: number };
  steady: LongTasks & { streamBytesPerSecond: number; framesPerSecond: number };
  shed: LongTasks & { allFinalSeconds: number | null; confirmed: number; gatewayCount: number };
  heap: { afterLoadMb: number; peakMb: number; afterGcMb: number };
  sortMs: number;
  filterMs: number;
  othersCores: number | undefined;
}

/**
 * Runs in the page before the app (as source text: this file is type-checked for Node, not the DOM):
 * records long tasks and the first frame with the fleet view fully rendered, in window.__bench.
 */
function pageProbe(rows: number): string {
  return `(() => {
    const probe = { longTasks: [], firstFullRender: null };
    window.__bench = probe;
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) probe.longTasks.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: 'longtask', buffered: true });
    const check = () => {
      const table = document.querySelector('table[aria-label="Gateways"]');
      const full = table !== null
        && table.getAttribute('aria-rowcount') === '${rows + 1}'
        && table.querySelector('tbody tr[aria-rowindex="2"]') !== null
        && document.querySelector('[role="status"][aria-label^="Connected gateways: "]') !== null;
      if (full) probe.firstFullRender = performance.now();
      else requestAnimationFrame(check);
    };
    requestAnimationFrame(check);
  })();`;
}

async function longTasksSince(page: Page, fromMs: number, toMs: number): Promise<LongTasks> {
  const tasks = await page.evaluate<Array<{ start: number; duration: number }>>(`window.__bench.longTasks.filter((t) => t.start >= ${fromMs} && t.start < ${toMs})`);
  const seconds = (toMs - fromMs) / 1000;
  return {
    count: tasks.length,
    perMinute: seconds > 0 ? (tasks.length * 60) / seconds : 0,
    longestMs: tasks.reduce((m, t) => Math.max(m, t.duration), 0),
    over100: tasks.filter((t) => t.duration > 100).length,
    seconds,
  };
}

/**
 * Polls `expression` in the page until it is true. From here, not page.waitForFunction: that one
 * evaluates a string predicate with eval() inside the page, which the console's CSP forbids.
 */
function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]).finally(() => clearTimeout(timer));
}

async function waitInPage(page: Page, expression: string, timeoutMs: number, pollMs = 50): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await page.evaluate<boolean>(expression)) return true;
    await sleep(pollMs);
  }
  return false;
}

const pageNow = (page: Page): Promise<number> => page.evaluate<number>('performance.now()');

async function heapMb(cdp: CDPSession): Promise<number> {
  const h = (await cdp.send('Runtime.getHeapUsage')) as { usedSize: number };
  return h.usedSize / 1048576;
}

/** Heap samples every second while `until` is pending; resolves with the peak. */
async function sampleHeap(cdp: CDPSession, until: Promise<unknown>): Promise<number> {
  let peak = 0;
  let done = false;
  void until.finally(() => (done = true));
  while (!done) {
    peak = Math.max(peak, await heapMb(cdp).catch(() => 0));
    await Promise.race([sleep(1000), until]);
  }
  return Math.max(peak, await heapMb(cdp).catch(() => 0));
}

/** ms from `act` (statements run in the page) to the next painted frame after `done` (an expression) holds. */
async function timeInPage(page: Page, act: string, done: string): Promise<number> {
  return page.evaluate<number>(`new Promise((resolve, reject) => {
    const t0 = performance.now();
    { ${act} }
    const poll = () => {
      if (${done}) requestAnimationFrame(() => resolve(performance.now() - t0));
      else if (performance.now() - t0 > 30000) reject(new Error('not done within 30 s: ' + ${JSON.stringify(done)} + ' — headers: ' + [...document.querySelectorAll('th')].map((th) => th.textContent + '=' + th.getAttribute('aria-sort')).join(', ')));
      else requestAnimationFrame(poll);
    };
    requestAnimationFrame(poll);
  })`);
}

/**
 * The throw-away PKI, kept in .lmgw/ (git-ignored) between runs: 20,000 key pairs and certificates
 * take minutes on a small machine, and they are not what this benchmark measures.
 */
async function benchPki(gateways: number): Promise<BenchPki> {
  const file = join(ROOT, '.lmgw', `bench-ui-pki-${gateways}.json`);
  if (existsSync(file)) {
    const cached = JSON.parse(readFileSync(file, 'utf8')) as BenchPki;
    if (cached.gateways.length === gateways) return cached;
  }
  const pki = await makeBenchPki(gateways);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(pki), { mode: 0o600 });
  return pki;
}

export async function runUiBench(o: UiBenchOptions): Promise<UiBenchResult> {
  const procs = new Processes(log);
  const fleets: SimulatedFleet[] = [];
  let browser: Browser | undefined;
  try {
    const dir = procs.tempDir('lmgw-bench-ui-');
    let t = performance.now();
    const pki = await benchPki(o.gateways);
    log(`PKI for ${o.gateways} gateways ready in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    writeFileSync(join(dir, 'ca.pem'), pki.caPem);
    writeFileSync(join(dir, 'crl.pem'), pki.crlPem);
    writeFileSync(join(dir, 'server.pem'), pki.serverCertPem);
    writeFileSync(join(dir, 'server.key'), pki.serverKeyPem, { mode: 0o600 });
    writeFileSync(
      join(dir, 'hub.json'),
      JSON.stringify({
        listen: { host: '127.0.0.1', port: 0 },
        tls: { ca: 'ca.pem', cert: 'server.pem', key: 'server.key', crl: 'crl.pem' },
        dataDir: 'hub-data',
        timeZone: 'UTC',
        operatorApi: { host: '127.0.0.1', port: 0, tokenName: 'bench-operator' },
        link: { maxConnections: o.gateways + 100 },
      }),
    );
    const hub = procs.start('lm-console', [bin('lm-console'), '--headless', '--config', join(dir, 'hub.json')], { cwd: dir, env: { LMGW_LOG_LEVEL: 'warn' } });
    const linkPort = Number((await hub.waitForLine(/^lm-console: link listening on wss:\/\/[\d.]+:(\d+)\//, 30_000))[1]);
    const login = (await hub.waitForLine(/^lm-console: operator console (http:\/\/127\.0\.0\.1:\d+\/login\?token=\S+)/, 30_000))[1] ?? '';
    await hub.waitForLine(/^lm-console: data in /, 30_000);
    const apiBase = new URL('/', login);
    const token = new URL(login).searchParams.get('token') ?? '';
    const call = async <T>(method: string, params: unknown = {}): Promise<T> => {
      const res = await fetch(new URL(`api/v1/${method}`, apiBase), { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(params) });
      const body = (await res.json()) as { result?: T; error?: { code: string; message: string } };
      if (!res.ok) throw new Error(`${method}: HTTP ${res.status} ${body.error?.code ?? ''} ${body.error?.message ?? ''}`);
      return body.result as T;
    };

    // --- the fleet: the offline ones connect once and leave, then the rest stay ---
    const url = `wss://127.0.0.1:${linkPort}/lmgw/v1`;
    const telemetry = { sampleSeconds: 1, batchSeconds: o.gateways >= 5_000 ? 10 : 1 };
    t = performance.now();
    if (o.offline > 0) {
      const seed = await SimulatedFleet.start({ url, caPem: pki.caPem, gateways: pki.gateways.slice(o.gateways - o.offline), telemetry: null, labels: ['bench-ui'] });
      await seed.stop();
    }
    const online = pki.gateways.slice(0, o.gateways - o.offline);
    const fleet = await withTimeout(
      SimulatedFleet.start({ url, caPem: pki.caPem, gateways: online, telemetry, labels: ['bench-ui'] }),
      o.connectSeconds * 1000,
      `${online.length} gateways did not all connect within ${o.connectSeconds} s (a loaded machine? --connect-seconds)`,
    );
    fleets.push(fleet);
    const connectSeconds = (performance.now() - t) / 1000;
    let snapshot = await call<FleetSnapshot>('fleet');
    for (let i = 0; i < 60 && (snapshot.counts.total < o.gateways || snapshot.counts.connected < online.length); i++) {
      await sleep(1000);
      snapshot = await call<FleetSnapshot>('fleet');
    }
    log(`fleet: ${snapshot.counts.connected} of ${snapshot.counts.total} connected (${connectSeconds.toFixed(1)} s), telemetry batched every ${telemetry.batchSeconds} s; settling 5 s`);
    await sleep(5000);

    // The hub's part of the first render, from outside the page: one fleet snapshot, timed.
    const f0 = performance.now();
    const res = await fetch(new URL('api/v1/fleet', apiBase), { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{}' });
    const snapshotBytes = (await res.arrayBuffer()).byteLength;
    const snapshotMs = performance.now() - f0;
    log(`fleet snapshot: ${(snapshotBytes / 1048576).toFixed(1)} MiB in ${snapshotMs.toFixed(0)} ms`);

    // --- the page ---
    browser = await chromium.launch({
      executablePath: o.chromium,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.addInitScript({ content: pageProbe(snapshot.counts.total) });
    let streamBytes = 0;
    let streamFrames = 0;
    page.on('websocket', (ws) => {
      if (!ws.url().endsWith('/api/v1/events')) return;
      ws.on('framereceived', (f) => {
        streamFrames++;
        streamBytes += typeof f.payload === 'string' ? Buffer.byteLength(f.payload) : f.payload.length;
      });
    });
    const cdp = await page.context().newCDPSession(page);
    const opened = performance.now();
    await page.goto(login);
    if (!(await waitInPage(page, 'window.__bench !== undefined && window.__bench.firstFullRender !== null', 120_000))) throw new Error('the fleet view did not render the whole fleet within 120 s');
    const firstRenderOutsideMs = performance.now() - opened;
    const firstRenderMs = await page.evaluate<number>('window.__bench.firstFullRender');
    // Where the time went: the snapshot request as the page saw it, and the long tasks up to the render.
    const fleetRequest = await page.evaluate<{ start: number; end: number } | null>(
      `(() => { const e = performance.getEntriesByType('resource').find((r) => r.name.endsWith('/api/v1/fleet')); return e === undefined ? null : { start: e.startTime, end: e.responseEnd }; })()`,
    );
    const load = await longTasksSince(page, 0, firstRenderMs);
    const loading = { fleetRequestStartMs: fleetRequest?.start ?? Number.NaN, fleetRequestEndMs: fleetRequest?.end ?? Number.NaN, longTasks: load.count, longestTaskMs: load.longestMs, snapshotMs, snapshotBytes };
    log(
      `first full render ${firstRenderMs.toFixed(0)} ms after the navigation started (${firstRenderOutsideMs.toFixed(0)} ms from page.goto); ` +
        `the fleet request ${loading.fleetRequestStartMs.toFixed(0)} → ${loading.fleetRequestEndMs.toFixed(0)} ms; ${load.count} long tasks up to the render (longest ${load.longestMs.toFixed(0)} ms)`,
    );
    await sleep(2000);
    const afterLoadMb = await heapMb(cdp);

    // --- steady: 1 Hz updates flowing ---
    const others = new OtherLoad([hub.pid, ...fleet.pids, process.pid]);
    const s0 = { page: await pageNow(page), bytes: streamBytes, frames: streamFrames, at: performance.now() };
    const steadyPeak = await sampleHeap(cdp, sleep(o.steadySeconds * 1000));
    const s1 = { page: await pageNow(page), bytes: streamBytes, frames: streamFrames, at: performance.now() };
    const othersCores = others.cores();
    const steadySeconds = (s1.at - s0.at) / 1000;
    const steady = {
      ...(await longTasksSince(page, s0.page, s1.page)),
      streamBytesPerSecond: (s1.bytes - s0.bytes) / steadySeconds,
      framesPerSecond: (s1.frames - s0.frames) / steadySeconds,
    };
    log(`steady ${steadySeconds.toFixed(0)} s: ${steady.count} long tasks (longest ${steady.longestMs.toFixed(0)} ms), stream ${(steady.streamBytesPerSecond / 1000).toFixed(1)} KB/s in ${steady.framesPerSecond.toFixed(1)} frames/s`);

    // --- sorting and filtering the whole fleet ---
    const sortMs = await timeInPage(
      page,
      `[...document.querySelectorAll('table[aria-label="Gateways"] th button')].find((b) => b.textContent.startsWith('Site')).click()`,
      `document.querySelector('table[aria-label="Gateways"] th[aria-sort="ascending"]')?.textContent.startsWith('Site')`,
    );
    const box = page.getByLabel('Filter gateways');
    await box.focus();
    // The last ten gateways' ids (e.g. "bench-1999" of bench-19990 … bench-19999).
    const filterText = (pki.gateways[o.gateways - 1]?.id ?? 'bench-0').slice(0, -1);
    const filterMs = await timeInPage(
      page,
      `const i = document.activeElement; const set = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set; set.call(i, '${filterText}'); i.dispatchEvent(new Event('input', { bubbles: true }));`,
      `document.querySelector('table[aria-label="Gateways"]').getAttribute('aria-rowcount') !== '${snapshot.counts.total + 1}'`,
    );
    await box.fill('');
    log(`sort by site ${sortMs.toFixed(0)} ms, filter ${filterMs.toFixed(0)} ms (to the next frame)`);
    await sleep(2000);

    // --- a fleet-wide shed, as the UI sees it ---
    const h0 = await pageNow(page);
    const shedAt = performance.now();
    const started = await call<ShedEventSummary>('startShed', { scope: { kind: 'fleet' }, selector: { kind: 'priority', maxPriority: 1 }, durationSeconds: 600, note: 'bench:ui' });
    log(`shed ${started.id}: startShed answered after ${((performance.now() - shedAt) / 1000).toFixed(1)} s`);
    const gatewayCount = started.gatewayCount;
    // Every outcome final as the page shows it: "N of N confirmed" (or the counts settle).
    const allFinal = waitInPage(
      page,
      `(() => {
        const cell = [...document.querySelectorAll('table[aria-label="Active shed events"] tbody td')].find((td) => / of \\d+ confirmed/.test(td.textContent));
        const text = cell === undefined ? '' : cell.textContent;
        return text.includes('${gatewayCount} of ${gatewayCount} confirmed') || (text !== '' && !text.includes('pending'));
      })()`,
      o.shedSeconds * 1000,
      100,
    ).then((done) => (done ? (performance.now() - shedAt) / 1000 : null));
    const shedPeak = await sampleHeap(cdp, allFinal.then(() => sleep(5000)));
    const allFinalSeconds = await allFinal;
    const h1 = await pageNow(page);
    const final = await call<ShedEventSummary[]>('shedEvents', { activeOnly: true });
    const confirmed = final.find((e) => e.id === started.id)?.counts.confirmed ?? 0;
    const shed = { ...(await longTasksSince(page, h0, h1)), allFinalSeconds, confirmed, gatewayCount };
    log(`shed: all final in the UI after ${allFinalSeconds === null ? 'never' : `${allFinalSeconds.toFixed(1)} s`}; ${confirmed} of ${gatewayCount} confirmed; ${shed.count} long tasks (longest ${shed.longestMs.toFixed(0)} ms)`);

    await cdp.send('HeapProfiler.collectGarbage');
    const afterGcMb = await heapMb(cdp);
    return {
      options: o,
      node: process.version,
      cpu: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
      date: new Date().toISOString(),
      connected: snapshot.counts.connected,
      connectSeconds,
      firstRenderMs,
      firstRenderOutsideMs,
      loading,
      steady,
      shed,
      heap: { afterLoadMb, peakMb: Math.max(afterLoadMb, steadyPeak, shedPeak), afterGcMb },
      sortMs,
      filterMs,
      othersCores,
    };
  } finally {
    await browser?.close().catch(() => undefined);
    for (const f of fleets) await f.stop().catch(() => undefined);
    await procs.cleanup();
  }
}

function report(r: UiBenchResult): { text: string; missed: string[] } {
  const missed: string[] = [];
  const row = (what: string, value: number, unit: string, digits: number, target?: number): string => {
    const ok = target === undefined ? '' : value <= target ? ' ✓' : ' ✗';
    if (target !== undefined && !(value <= target)) missed.push(what);
    return `| ${what} | ${fmt(value, digits)}${unit} | ${target === undefined ? '' : `≤ ${target}${unit}`}${ok} |`;
  };
  const o = r.options;
  const lines = [
    `## UI with ${o.gateways.toLocaleString('en-US')} gateways (${r.connected.toLocaleString('en-US')} connected)`,
    '',
    `${r.node}, ${r.cpu}, ${r.date}; Chromium ${o.chromium}; steady ${fmt(r.steady.seconds, 0)} s; CPU besides the hub, the simulated fleet and this process (Chromium included) ${r.othersCores === undefined ? '–' : fmt(r.othersCores, 2)} cores during the steady phase`,
    '',
    '| figure | value | target |',
    '|---|---|---|',
    row('first full render of the fleet view (from the page opening)', r.firstRenderMs, ' ms', 0, TARGETS.firstRenderMs),
    row('… of which the fleet snapshot request (page: start → response end)', r.loading.fleetRequestEndMs - r.loading.fleetRequestStartMs, ' ms', 0),
    row('… of which the UI after the snapshot arrived (response end → full render)', r.firstRenderMs - r.loading.fleetRequestEndMs, ' ms', 0),
    row('… long tasks until the first render / the longest', r.loading.longTasks, ` / ${fmt(r.loading.longestTaskMs, 0)} ms`, 0),
    row(`one fleet snapshot from outside the page (${fmt(r.loading.snapshotBytes / 1048576, 1)} MiB)`, r.loading.snapshotMs, ' ms', 0),
    row('steady 1 Hz: longest long task', r.steady.longestMs, ' ms', 0, TARGETS.steadyLongestTaskMs),
    row('steady 1 Hz: long tasks (> 50 ms) per minute', r.steady.perMinute, '', 1),
    row('steady 1 Hz: event stream to the page', r.steady.streamBytesPerSecond / 1000, ' KB/s', 1),
    row('fleet shed: long tasks (> 50 ms) per minute', r.shed.perMinute, '', 1),
    row('fleet shed: longest long task', r.shed.longestMs, ' ms', 0),
    row('fleet shed: API call → every outcome final in the UI', r.shed.allFinalSeconds ?? Number.NaN, ' s', 1),
    row('JS heap, peak', r.heap.peakMb, ' MB', 0, TARGETS.heapMb),
    row('JS heap after load / after GC at the end', r.heap.afterLoadMb, ' MB', 0),
    row(`sort the whole fleet by site (click → frame)`, r.sortMs, ' ms', 0),
    row(`filter the whole fleet (input → frame)`, r.filterMs, ' ms', 0),
    '',
    `Shed: ${r.shed.confirmed} of ${r.shed.gatewayCount} confirmed; ${r.shed.count} long tasks in ${fmt(r.shed.seconds, 1)} s. Heap after GC at the end: ${fmt(r.heap.afterGcMb, 0)} MB.`,
  ];
  return { text: lines.join('\n'), missed };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      gateways: { type: 'string' },
      offline: { type: 'string' },
      'steady-seconds': { type: 'string' },
      'shed-seconds': { type: 'string' },
      'connect-seconds': { type: 'string' },
      chromium: { type: 'string' },
      json: { type: 'string' },
      quick: { type: 'boolean' },
    },
  });
  const num = (v: string | undefined, d: number): number => {
    if (v === undefined) return d;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`not a whole number: ${v}`);
    return n;
  };
  const quick = values.quick === true;
  const gateways = num(values.gateways, quick ? 300 : 20_000);
  const o: UiBenchOptions = {
    gateways,
    offline: Math.min(gateways - 1, num(values.offline, quick ? 10 : 100)),
    steadySeconds: num(values['steady-seconds'], quick ? 10 : 60),
    shedSeconds: num(values['shed-seconds'], 120),
    connectSeconds: num(values['connect-seconds'], 900),
    chromium: values.chromium ?? process.env.LMGW_CHROMIUM ?? '/usr/bin/chromium',
  };
  const result = await runUiBench(o);
  const { text, missed } = report(result);
  process.stdout.write(`${text}\n`);
  if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify({ ...result, missed }, null, 2)}\n`);
  if (missed.length > 0) {
    process.stdout.write(`\nmissed: ${missed.join('; ')}\n`);
    process.exitCode = 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err: unknown) => {
    process.stderr.write(`bench:ui failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    // Simulated-fleet workers still starting (a timeout) would keep this process alive.
    process.exit(2);
  });
}
