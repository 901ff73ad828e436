#!/usr/bin/env node
// `npm start` for this build: a walk through what exists today — the private CA and the XML
// protocol — on a throw-away PKI under .lmgw/demo/. The console with a demo fleet replaces this when
// the hub and UI land (see README.md, Status).
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const dir = join(root, '.lmgw', 'demo');
const pki = join(dir, 'pki');
// A demo-only passphrase: a real CA gets its passphrase from the operator's prompt or a secret store.
const env = { ...process.env, LMGW_CA_PASSPHRASE: process.env.LMGW_CA_PASSPHRASE || 'demo passphrase, not for production' };

function step(title) {
  process.stdout.write(`\n== ${title}\n`);
}
function ca(...args) {
  process.stdout.write(`$ lmgw-ca ${args.join(' ').replaceAll(root + '/', '')}\n`);
  process.stdout.write(execFileSync(process.execPath, [join(root, 'bin', 'lmgw-ca.js'), ...args], { env, encoding: 'utf8' }));
}
function openssl(...args) {
  process.stdout.write(`$ openssl ${args.join(' ').replaceAll(root + '/', '')}\n`);
  try {
    process.stdout.write(execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
  } catch (err) {
    process.stdout.write(`${err.stdout ?? ''}${err.stderr ?? ''}`.split('\n').filter((l) => !/^[0-9A-F]{8,}:error:/.test(l)).join('\n'));
  }
}

if (existsSync(dir)) rmSync(dir, { recursive: true });

step('A private CA for the DSO');
ca('init', '--pki', pki, '--name', 'Demo DSO Root CA');
step("The console's server certificate");
ca('issue-server', '--pki', pki, '--dns', 'localhost', '--ip', '127.0.0.1', '--out', join(dir, 'console'));
step('Three site gateways');
for (const id of ['site-0001', 'site-0002', 'site-0003']) ca('issue-gateway', '--pki', pki, '--id', id, '--out', join(dir, id));
step('site-0003 is decommissioned: revoke it');
ca('revoke', '--pki', pki, '--id', 'site-0003', '--reason', 'cessationOfOperation');
ca('list', '--pki', pki);
step('openssl judges the result');
openssl('verify', '-crl_check', '-CAfile', join(pki, 'ca.pem'), '-CRLfile', join(pki, 'crl.pem'), join(dir, 'site-0001', 'gateway.pem'), join(dir, 'site-0003', 'gateway.pem'));

step('The XML protocol: a shed command as it goes on the wire');
const protocol = await import('../dist/shared/protocol/index.js');
const command = { kind: 'command', id: 'c-0001', op: 'shed', deadline: Date.now() + 30_000, selector: { channels: [1, 2] }, durationSeconds: 900 };
try {
  const xml = protocol.encode(command);
  process.stdout.write(`${xml}\n(${new TextEncoder().encode(xml).length} bytes)\n`);
  try {
    protocol.decode(xml.replace('op="shed"', 'op="write-register"'));
  } catch (err) {
    process.stdout.write(`a console asking for anything else is refused: ${err.code}: ${err.message}\n`);
  }
} catch (err) {
  process.stdout.write(`(protocol demo skipped: ${err.message})\n`);
}
process.stdout.write(`\nFiles are in ${dir}. Next: docs/security.md and docs/protocol.md.\n`);
