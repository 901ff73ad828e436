import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { ROOT, run, tempDir } from './helpers/processes.js';

// The README must stay true: its CA walk-through runs as written (npx resolved to this checkout).

const tmp = tempDir();
afterAll(() => tmp.cleanup());

it("the README's lmgw-ca walk-through runs as written and openssl rejects the revoked gateway", async () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## The private CA'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  expect(block).toBeDefined();
  const port = String(20_000 + Math.floor(Math.random() * 20_000));
  // `npx lmgw-ca` resolves to this checkout's bin; here a shim on PATH does the same (and is the
  // process `$!` names, so the background responder can be stopped).
  const shims = join(tmp.dir, 'shims');
  mkdirSync(shims);
  writeFileSync(join(shims, 'lmgw-ca'), `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, 'bin', 'lmgw-ca.js')}" "$@"\n`);
  chmodSync(join(shims, 'lmgw-ca'), 0o755);
  const script = [
    'set -e',
    `export PATH="${shims}:$PATH"`,
    (block ?? '')
      .replaceAll('npx lmgw-ca', 'lmgw-ca')
      .replaceAll('8888', port)
      .replace(/^export LMGW_CA_PASSPHRASE=.*$/m, "export LMGW_CA_PASSPHRASE='readme test passphrase'")
      // openssl verify exits 2 for the revoked certificate: that is the point of the line.
      .replace(/^(openssl verify .*)$/m, '$1 || echo "verify exit $?"'),
    'kill $!',
  ].join('\n');
  const r = await run('bash', ['-c', script], { cwd: tmp.dir });
  expect(r.code, r.stdout + r.stderr).toBe(0);
  expect(r.stdout).toMatch(/site-0001\.pem: OK/);
  expect(r.stdout + r.stderr).toMatch(/certificate revoked/);
  expect(r.stdout).toMatch(/verify exit 2/);
  expect(r.stdout).toMatch(/site-0001\.pem: good/);
});
