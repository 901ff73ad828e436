#!/usr/bin/env node
// `npm start` (= `npm run demo`): a demo fleet on this machine, every part real — a private CA, the
// console's hub, five simulated load managers of two models with different loads (lm-sim, real
// Modbus TCP) and five gateway agents (lmgw-agent run, mutual TLS; one through tinyproxy when it is
// installed). The hub (link, store, fleet, operator API and the browser-mode UI) runs in this
// process; the script prints the console's URL and the fleet's live load, and after a while sheds
// every priority-1 load for 20 s through the operator API — as a utility's script would — and shows
// the per-gateway outcomes.
// The agents restore on their own. Stop with Ctrl-C. `--once` runs the scenario once and exits (for
// tests). LMGW_DEMO_API_PORT sets the operator API's port (default 8480; 0 picks a free one).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const dist = (p) => join(root, 'dist', p);
if (!existsSync(dist('console/hub/cli.js'))) {
  process.stderr.write('demo: dist/ is missing; run `npm run build` (npm start does)\n');
  process.exit(1);
}
const { initCa, CertificateAuthority } = await import(dist('certs/ca.js'));
const { createGatewayCsr } = await import(dist('certs/csr.js'));
const { WebSocket } = await import('ws');

const once = process.argv.includes('--once');
// LMGW_DEMO_DIR: where it all lives (wiped at start), so tests can run beside a demo.
const dir = process.env.LMGW_DEMO_DIR ? resolve(process.env.LMGW_DEMO_DIR) : join(root, '.lmgw', 'demo');
const passphrase = process.env.LMGW_CA_PASSPHRASE || 'demo passphrase, not for production';
// Five sites, two LM models, loads scaled so the fleet looks like a real feeder's mix. One site sits
// behind an HTTP proxy (tinyproxy, when installed), as many customer networks do.
const SITES = [
  { id: 'bakery-muller', name: 'Bakery Müller', profile: 'lm4-float.json', scale: 1, labels: ['bakeries', 'north'] },
  { id: 'school-north', name: 'School North', profile: 'lm16-int16.json', scale: 1, labels: ['schools', 'north'] },
  { id: 'dairy-farm-7', name: 'Dairy farm 7', profile: 'lm4-float.json', scale: 2.5, labels: ['farms', 'south'], proxy: true },
  { id: 'hospital-annex', name: 'Hospital annex', profile: 'lm16-int16.json', scale: 1.6, labels: ['health', 'south'] },
  { id: 'ice-rink-west', name: 'Ice rink West', profile: 'lm4-float.json', scale: 6, labels: ['sports', 'west'] },
];
const children = [];
const log = (line) => process.stdout.write(`${new Date().toISOString().slice(11, 19)}  ${line}\n`);

function spawnChild(name, args, onLine, command = process.execPath, env = {}) {
  const child = spawn(command, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  children.push(child);
  // One line buffer per stream: a JSON log line on stdout and a banner on stderr never mix.
  const feeder = () => {
    let buffer = '';
    return (chunk) => {
      buffer += chunk.toString();
      let nl;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        onLine(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
      }
    };
  };
  child.stdout.on('data', feeder());
  child.stderr.on('data', feeder());
  child.on('exit', (code, signal) => {
    if (!stopping) log(`${name} exited (${signal ?? code})`);
  });
  return child;
}

let stopping = false;
let events;
async function stopAll(code) {
  stopping = true;
  events?.terminate();
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
  process.exit(code);
}

// --- PKI: CA, console certificate, one certificate per gateway (key made "on the gateway") --------
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
await initCa(join(dir, 'pki'), passphrase, 'Demo DSO Root CA');
const ca = await CertificateAuthority.open(join(dir, 'pki'), passphrase);
const server = await ca.issueServer({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
log(`CA and console certificate ready in ${dir}`);

// --- the console: `lm-console --headless`, as a DSO runs it -----------------------------------------
const consoleDir = join(dir, 'console');
mkdirSync(consoleDir, { recursive: true });
writeFileSync(join(consoleDir, 'server.pem'), server.certPem);
writeFileSync(join(consoleDir, 'server.key'), server.keyPem, { mode: 0o600 });
writeFileSync(
  join(consoleDir, 'hub.json'),
  JSON.stringify(
    {
      listen: { host: '127.0.0.1', port: Number(process.env.LMGW_DEMO_PORT ?? 0) },
      tls: { ca: '../pki/ca.pem', cert: 'server.pem', key: 'server.key', crl: '../pki/crl.pem' },
      dataDir: 'data',
      timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC',
      // The console holds the demo CA, so certificates can be listed and revoked from the UI.
      ca: { dir: '../pki' },
      operatorApi: { host: '127.0.0.1', port: Number(process.env.LMGW_DEMO_API_PORT ?? (once ? 0 : 8480)), tokenName: 'demo-operator' },
      sites: Object.fromEntries(SITES.map((s) => [s.id, { name: s.name, labels: ['demo', ...s.labels] }])),
    },
    null,
    2,
  ),
);
const started = await new Promise((resolveStarted) => {
  const lines = {};
  spawnChild(
    'lm-console',
    [join(root, 'bin', 'lm-console.js'), '--headless', '--config', join(consoleDir, 'hub.json')],
    (line) => {
      const link = /^lm-console: link listening on (wss:\/\/\S+)/.exec(line);
      const ui = /^lm-console: operator console (http:\/\/\S+)/.exec(line);
      const data = /^lm-console: data in (.*)$/.exec(line);
      if (link) lines.link = link[1];
      if (ui) lines.ui = ui[1];
      if (data) resolveStarted({ ...lines, data: data[1] });
      if (/"level":"(error|fatal)"/.test(line) || /^lm-console: [A-Z]+_[A-Z_]+:/.test(line)) log(`console: ${line}`);
    },
    process.execPath,
    { LMGW_CA_PASSPHRASE: passphrase },
  );
});
const linkPort = Number(/:(\d+)\/lmgw\/v1$/.exec(started.link)?.[1]);
const apiUrl = new URL('/', started.ui);
const token = readFileSync(join(consoleDir, 'data', 'operator-token'), 'utf8').trim();
log(`console link listening on ${started.link}`);
log(`OPERATOR CONSOLE  ${started.ui}`);
log(`  open it in a browser (the token is also in ${join(consoleDir, 'data', 'operator-token')}); data in ${started.data}`);

/** One operator API call, over HTTP with the bearer token, as docs/operator-api.md describes. */
async function call(method, params = {}) {
  const res = await fetch(new URL(`api/v1/${method}`, apiUrl), {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(params),
  });
  const body = await res.json();
  if (!res.ok) throw new Error(`${method}: ${res.status} ${body.error?.code}: ${body.error?.message}`);
  return body.result;
}

// The event stream, as the UI and a utility's scripts see it.
const seen = new Set();
events = new WebSocket(new URL('api/v1/events', apiUrl.href.replace(/^http/, 'ws')), { headers: { authorization: `Bearer ${token}` } });
events.on('message', (data) => {
  const e = JSON.parse(data.toString('utf8'));
  if (stopping) return;
  if (e.type === 'gateways') {
    // Patches: a gateway's changed fields; `state` is there when it connected or went offline.
    for (const p of e.patches) {
      if (p.state !== 'connected' || seen.has(p.gatewayId)) continue;
      seen.add(p.gatewayId);
      void call('gateway', { gatewayId: p.gatewayId }).then((g) => {
        const channels = g.devices.flatMap((d) => d.channels);
        log(`${g.gatewayId} connected (${g.siteName})${g.viaProxy ? ' through an HTTP proxy' : ''}: ${channels.length} channels, ${channels.filter((c) => c.sheddable).length} sheddable`);
      });
    }
  } else if (e.type === 'alarm' && e.alarm.clearedAt === undefined) log(`ALARM ${e.alarm.code}${e.alarm.gatewayId ? ` ${e.alarm.gatewayId}` : ''}: ${e.alarm.message}`);
  else if (e.type === 'security') log(`SECURITY ${e.event.code} from ${e.event.remoteAddress}: ${e.event.detail}`);
});
events.on('error', (err) => log(`event stream: ${err.message}`));
process.once('SIGINT', () => void stopAll(0));
process.once('SIGTERM', () => void stopAll(0));

// --- a customer's HTTP proxy (tinyproxy, when installed) ------------------------------------------------
function onPath(command) {
  return (process.env.PATH ?? '').split(':').some((d) => d && existsSync(join(d, command)));
}
let proxyUrl = null;
if (onPath('tinyproxy')) {
  const port = await new Promise((resolvePort) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port: p } = probe.address();
      probe.close(() => resolvePort(p));
    });
  });
  const conf = join(dir, 'tinyproxy.conf');
  writeFileSync(conf, [`Port ${port}`, 'Listen 127.0.0.1', 'Timeout 600', 'MaxClients 20', 'Allow 127.0.0.1', 'LogLevel Warning'].join('\n') + '\n');
  await new Promise((resolveReady) => {
    spawnChild('tinyproxy', ['-d', '-c', conf], (line) => {
      if (/Accepting connections|listening/i.test(line)) resolveReady();
    }, 'tinyproxy');
    setTimeout(resolveReady, 3000);
  });
  proxyUrl = `http://127.0.0.1:${port}`;
  log(`tinyproxy on ${proxyUrl} (the customer proxy of ${SITES.filter((s) => s.proxy).map((s) => s.id).join(', ')})`);
} else {
  log('tinyproxy is not installed: every site connects directly (apt-get install tinyproxy for the proxy path)');
}

// --- sites: an LM simulator and an agent each --------------------------------------------------------
for (const [i, site] of SITES.entries()) {
  const siteDir = join(dir, site.id);
  mkdirSync(siteDir, { recursive: true });
  // Short minimum on/off times so the demo can shed right away (the shipped profiles are realistic).
  const profile = JSON.parse(readFileSync(join(root, 'agent', 'profiles', site.profile), 'utf8'));
  for (const ch of profile.channels) Object.assign(ch, { minOnSeconds: 2, minOffSeconds: 2, ratedKw: Math.round(ch.ratedKw * site.scale * 10) / 10 });
  writeFileSync(join(siteDir, 'profile.json'), JSON.stringify(profile, null, 2));
  const port = await new Promise((resolvePort) => {
    spawnChild(`lm-sim ${site.id}`, [join(root, 'bin', 'lm-sim.js'), '--profile', join(siteDir, 'profile.json'), '--port', '0', '--quiet', '--seed', String(i + 1)], (line) => {
      const m = /listening on Modbus TCP [\d.]+:(\d+)/.exec(line);
      if (m) resolvePort(Number(m[1]));
    });
  });
  const { keyPem, csrPem } = await createGatewayCsr(site.id);
  writeFileSync(join(siteDir, 'gateway.key'), keyPem, { mode: 0o600 });
  writeFileSync(join(siteDir, 'gateway.pem'), (await ca.signGatewayCsr(csrPem)).certPem);
  writeFileSync(join(siteDir, 'ca.pem'), ca.certificatePem);
  writeFileSync(
    join(siteDir, 'agent.json'),
    JSON.stringify(
      {
        gatewayId: site.id,
        console: { url: `wss://127.0.0.1:${linkPort}/lmgw/v1` },
        tls: { ca: 'ca.pem', cert: 'gateway.pem', key: 'gateway.key' },
        proxy: site.proxy ? proxyUrl : null,
        site: { name: site.name, labels: ['demo'] },
        devices: [{ id: 'lm1', profile: 'profile.json', connection: { type: 'tcp', host: '127.0.0.1', port, unitId: profile.connection.unitId } }],
        dataDir: 'data',
      },
      null,
      2,
    ),
  );
  spawnChild(`agent ${site.id}`, [join(root, 'bin', 'lmgw-agent.js'), 'run', '--config', join(siteDir, 'agent.json')], (line) => {
    if (/"level":"(error|fatal)"/.test(line)) log(`agent ${site.id}: ${line}`);
  });
  log(`${site.id}: lm-sim on Modbus TCP port ${port}, agent started`);
}

// --- the scenario -----------------------------------------------------------------------------------
async function fleetLine() {
  const f = await call('fleet');
  const kw = (x) => (x === null ? '…' : `${x.toFixed(1)} kW`);
  const parts = f.gateways.map((g) => `${g.gatewayId} ${kw(g.load.currentKw)}`);
  return `fleet ${kw(f.load.currentKw)} (quarter-hour projected ${kw(f.load.projectedKw)}) | ${parts.join(' | ')}`;
}
const wait = (ms) => new Promise((r) => setTimeout(r, ms));

/** The scripted part; after Ctrl-C (stopping) an interrupted call is no error. */
async function scenario() {
  const deadline = Date.now() + 60_000;
  while ((await call('fleet')).gateways.filter((g) => g.load.currentKw !== null).length < SITES.length) {
    if (Date.now() > deadline) {
      log('demo: not every site connected and reported within 60 s');
      await stopAll(1);
    }
    await wait(250);
  }
  log(await fleetLine());
  await wait(3000);
  log('SHED: every priority-1 load at every site, for 20 s (operator API startShed)');
  let ok = false;
  try {
    const answer = await call('startShed', { scope: { kind: 'fleet' }, selector: { kind: 'priority', maxPriority: 1 }, durationSeconds: 20, note: 'demo' });
    // The answer is the event's summary (and the gateways that did not confirm); every outcome is in shedEvent.
    const event = await call('shedEvent', { eventId: answer.id });
    const commands = await call('commands', { eventId: event.id });
    for (const o of event.outcomes) {
      const cmd = commands.find((c) => c.id === o.commandId);
      const off = (cmd?.readBack ?? []).filter((r) => !r.on).map((r) => r.channel);
      log(`shed ${o.commandId} on ${o.gatewayId} channels [${o.channels.join(', ')}] (~${o.expectedKw.toFixed(1)} kW): ${o.state}${o.code ? ` ${o.code}` : ''}; read-back off: [${off.join(', ')}]`);
    }
    log(`event ${event.id}: ${event.state}, ${event.plannedKw.toFixed(1)} kW planned, restored at ${new Date(event.endsAt).toISOString().slice(11, 19)}`);
    ok = event.outcomes.length === SITES.length && event.outcomes.every((o) => o.state === 'confirmed');
  } catch (err) {
    log(`shed failed: ${err.message}`);
  }
  await wait(3000);
  log(await fleetLine());
  if (once) await stopAll(ok ? 0 : 1);
  setInterval(() => void fleetLine().then(log, (err) => stopping || log(`fleet: ${err.message}`)), 5000);
  log(`running; the agents restore the shed loads after 20 s. The console: ${started.ui} — Ctrl-C stops the demo.`);
}
scenario().catch((err) => {
  if (stopping) return;
  log(`demo: ${err.message}`);
  void stopAll(1);
});
