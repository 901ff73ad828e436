#!/usr/bin/env node
// `npm start`: a demo fleet on this machine, every part real — a private CA, the console's link hub,
// three simulated load managers (lm-sim, real Modbus TCP) and three gateway agents (lmgw-agent run,
// mutual TLS). The hub runs in this process, acknowledges telemetry and prints the fleet's live
// load; after a while it sheds every priority-1 load for 20 s, shows the read-back, and the agents
// restore on their own. Stop with Ctrl-C. `--once` runs the scenario once and exits (for tests).
//
// The operator UI and API replace this script's console output when they land (README, Status).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const dist = (p) => join(root, 'dist', p);
if (!existsSync(dist('console/hub/link/server.js'))) {
  process.stderr.write('demo: dist/ is missing; run `npm run build` (npm start does)\n');
  process.exit(1);
}
const { initCa, CertificateAuthority } = await import(dist('certs/ca.js'));
const { createGatewayCsr } = await import(dist('certs/csr.js'));
const { startLinkServer } = await import(dist('console/hub/link/server.js'));

const once = process.argv.includes('--once');
const dir = join(root, '.lmgw', 'demo');
const passphrase = process.env.LMGW_CA_PASSPHRASE || 'demo passphrase, not for production';
const SITES = [
  { id: 'bakery-muller', name: 'Bakery Müller', profile: 'lm4-float.json' },
  { id: 'school-north', name: 'School North', profile: 'lm16-int16.json' },
  { id: 'dairy-farm-7', name: 'Dairy farm 7', profile: 'lm4-float.json' },
];
const children = [];
const log = (line) => process.stdout.write(`${new Date().toISOString().slice(11, 19)}  ${line}\n`);

function spawnChild(name, args, onLine) {
  const child = spawn(process.execPath, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let buffer = '';
  const feed = (chunk) => {
    buffer += chunk.toString();
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      onLine(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
    }
  };
  child.stdout.on('data', feed);
  child.stderr.on('data', feed);
  child.on('exit', (code, signal) => {
    if (!stopping) log(`${name} exited (${signal ?? code})`);
  });
  return child;
}

let stopping = false;
async function stopAll(hub, code) {
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
  await hub?.close();
  process.exit(code);
}

// --- PKI: CA, console certificate, one certificate per gateway (key made "on the gateway") --------
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
await initCa(join(dir, 'pki'), passphrase, 'Demo DSO Root CA');
const ca = await CertificateAuthority.open(join(dir, 'pki'), passphrase);
const server = await ca.issueServer({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
log(`CA and console certificate ready in ${dir}`);

// --- the hub ---------------------------------------------------------------------------------------
const hub = await startLinkServer({
  host: '127.0.0.1',
  port: Number(process.env.LMGW_DEMO_PORT ?? 0),
  caPem: ca.certificatePem,
  certPem: server.certPem,
  keyPem: server.keyPem,
  crlPath: join(dir, 'pki', 'crl.pem'),
});
process.once('SIGINT', () => void stopAll(hub, 0));
process.once('SIGTERM', () => void stopAll(hub, 0));
log(`console link listening on wss://127.0.0.1:${hub.port}/lmgw/v1`);

const live = new Map(); // gateway id -> { kw, channels, seqs }
hub.on('refused', (e) => log(`SECURITY ${e.code} from ${e.remoteAddress}: ${e.detail}`));
hub.on('connected', (s) => {
  const channels = s.hello.devices.flatMap((d) => d.channels);
  live.set(s.gatewayId, { kw: undefined, channels, seqs: 0 });
  log(`${s.gatewayId} connected (${s.hello.siteName ?? ''}): ${channels.length} channels, ${channels.filter((c) => c.sheddable).length} sheddable`);
});
hub.on('disconnected', (s, why) => {
  if (!stopping) log(`${s.gatewayId} disconnected: ${why.code}`);
});
const results = new Map();
hub.on('message', (s, m) => {
  const site = live.get(s.gatewayId);
  if (m.kind === 'telemetry') {
    hub.send(s.gatewayId, { kind: 'ack', seq: m.seq });
    const last = m.samples[m.samples.length - 1];
    if (site && last) {
      site.kw = last.kw;
      site.seqs += 1;
    }
  } else if (m.kind === 'result') {
    results.set(m.commandId, m);
    const off = (m.relays ?? []).filter((r) => !r.on).map((r) => r.channel);
    log(`result ${m.commandId} from ${s.gatewayId}: ${m.status}${m.code ? ` ${m.code}` : ''}; read-back off: [${off.join(', ')}]; ${m.measuredKw ?? '?'} kW`);
  } else if (m.kind === 'event') {
    log(`event from ${s.gatewayId}: ${m.type} (${m.severity})`);
  }
});

// --- sites: an LM simulator and an agent each --------------------------------------------------------
for (const [i, site] of SITES.entries()) {
  const siteDir = join(dir, site.id);
  mkdirSync(siteDir, { recursive: true });
  // Short minimum on/off times so the demo can shed right away (the shipped profiles are realistic).
  const profile = JSON.parse(readFileSync(join(root, 'agent', 'profiles', site.profile), 'utf8'));
  for (const ch of profile.channels) Object.assign(ch, { minOnSeconds: 2, minOffSeconds: 2 });
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
        console: { url: `wss://127.0.0.1:${hub.port}/lmgw/v1` },
        tls: { ca: 'ca.pem', cert: 'gateway.pem', key: 'gateway.key' },
        proxy: null,
        site: { name: site.name, labels: ['demo'] },
        devices: [{ id: 'lm1', profile: 'profile.json', connection: { type: 'tcp', host: '127.0.0.1', port, unitId: profile.connection.unitId } }],
        dataDir: 'data',
      },
      null,
      2,
    ),
  );
  spawnChild(`agent ${site.id}`, [join(root, 'bin', 'lmgw-agent.js'), 'run', '--config', join(siteDir, 'agent.json')], (line) => {
    if (/"level":(50|60)/.test(line)) log(`agent ${site.id}: ${line}`);
  });
  log(`${site.id}: lm-sim on Modbus TCP port ${port}, agent started`);
}

// --- the scenario -----------------------------------------------------------------------------------
function fleetLine() {
  const parts = [...live.entries()].map(([id, s]) => `${id} ${s.kw === undefined ? '…' : `${s.kw.toFixed(1)} kW`}`);
  const total = [...live.values()].reduce((sum, s) => sum + (s.kw ?? 0), 0);
  return `fleet ${total.toFixed(1)} kW | ${parts.join(' | ')}`;
}
const wait = (ms) => new Promise((r) => setTimeout(r, ms));
const deadline = Date.now() + 60_000;
while ([...live.values()].filter((s) => s.kw !== undefined).length < SITES.length) {
  if (Date.now() > deadline) {
    log('demo: not every site connected and reported within 60 s');
    await stopAll(hub, 1);
  }
  await wait(250);
}
log(fleetLine());
await wait(3000);
log('SHED: every priority-1 load at every site, for 20 s');
const ids = SITES.map((s, i) => {
  const id = `demo-shed-${i + 1}`;
  hub.send(s.id, { kind: 'command', id, op: 'shed', deadline: Date.now() + 10_000, selector: { maxPriority: 1 }, durationSeconds: 20 });
  return id;
});
const until = Date.now() + 15_000;
while (ids.some((id) => !results.has(id)) && Date.now() < until) await wait(100);
const ok = ids.every((id) => results.get(id)?.status === 'ok');
await wait(3000);
log(fleetLine());
if (once) await stopAll(hub, ok ? 0 : 1);
setInterval(() => log(fleetLine()), 5000);
log('running; the agents restore the shed loads after 20 s. Ctrl-C stops the demo.');
