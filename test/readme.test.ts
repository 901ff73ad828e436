import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { freePort } from './agent/fixtures/link.js';
import { ROOT, run, tempDir } from './helpers/processes.js';

// The README must stay true: its walk-throughs run as written, in order, in one directory, with
// `npx <bin>` resolved to this checkout by shims on PATH. The only edits: a free port instead of the
// fixed ones, the long-running commands put in the background and stopped, and the revoked
// certificate's openssl failure recorded instead of ending the script.

const tmp = tempDir();
afterAll(() => tmp.cleanup());

function shellBlocks(section: string): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf(section);
  const end = readme.indexOf('\n## ', start + section.length);
  return [...readme.slice(start, end).matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
}

function shims(): string {
  const dir = join(tmp.dir, 'shims');
  mkdirSync(dir, { recursive: true });
  for (const bin of ['lmgw-ca', 'lmgw-agent', 'lm-console']) {
    writeFileSync(join(dir, bin), `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, 'bin', `${bin}.js`)}" "$@"\n`);
    chmodSync(join(dir, bin), 0o755);
  }
  return dir;
}

const waitForLine = (file: string, text: string) => `for i in $(seq 100); do grep -q '${text}' ${file} 2>/dev/null && break; sleep 0.1; done; grep -q '${text}' ${file}`;

it("the README's CA walk-through and 'connect a gateway' run as written", async () => {
  const [caBlock] = shellBlocks('## The private CA');
  const [linkBlock] = shellBlocks('## Connect a gateway');
  expect(caBlock).toBeDefined();
  expect(linkBlock).toBeDefined();
  // Ports free a moment ago, not random ones: other test files hold thousands of client sockets
  // (simulated fleets), and a random port in the ephemeral range may well be one of them.
  const aPort = async (): Promise<string> => {
    // Not one whose digits hold another README port (they are replaced one after the other).
    for (;;) {
      const port = String(await freePort());
      if (!['8443', '8480', '8888'].some((p) => port.includes(p))) return port;
    }
  };
  const ocspPort = await aPort();
  const hubPort = await aPort();
  const apiPort = await aPort();
  const script = [
    'set -e',
    `export PATH="${shims()}:$PATH"`,
    (caBlock ?? '')
      .replace(/^export LMGW_CA_PASSPHRASE=.*$/m, "export LMGW_CA_PASSPHRASE='readme test passphrase'")
      .replaceAll('8888', ocspPort)
      // openssl verify exits 2 for the revoked certificate: that is the point of the line.
      .replace(/^(openssl verify .*)$/m, '$1 || echo "verify exit $?"'),
    'kill $!',
    (linkBlock ?? '')
      .replaceAll('8443', hubPort)
      .replaceAll('8480', apiPort)
      .replace(/^npx lm-console (.*) &$/m, `npx lm-console $1 > hub.log 2>&1 & hub=$!\n${waitForLine('hub.log', 'listening')}`)
      .replace(/^npx lmgw-agent run (--config \S+).*$/m, `npx lmgw-agent run $1 > agent.log 2>&1 & agent=$!\n${waitForLine('agent.log', '"connected"')}\nkill $agent; wait $agent || true\nkill $hub; wait $hub || true\ncat hub.log`),
  ]
    .join('\n')
    .replaceAll('npx lmgw-ca', 'lmgw-ca')
    .replaceAll('npx lmgw-agent', 'lmgw-agent')
    .replaceAll('npx lm-console', 'lm-console');
  const r = await run('bash', ['-c', script], { cwd: tmp.dir });
  expect(r.code, r.stdout + r.stderr).toBe(0);
  // The CA part: openssl accepts the good gateway, rejects the revoked one; OCSP says good.
  expect(r.stdout).toMatch(/site-0001\.pem: OK/);
  expect(r.stdout + r.stderr).toMatch(/certificate revoked/);
  expect(r.stdout).toMatch(/verify exit 2/);
  expect(r.stdout).toMatch(/site-0001\.pem: good/);
  // The link part: check passes, and the hub logged the gateway's connection.
  expect(r.stdout).toMatch(/console OK/);
  expect(r.stdout).toMatch(/"gatewayId":"site-0003".*"msg":"gateway connected"/);
  expect(r.stdout).toContain(`lm-console: operator console http://127.0.0.1:${apiPort}/login?token=`);
});
