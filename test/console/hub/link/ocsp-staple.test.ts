import { writeFileSync } from 'node:fs';
import { connect, type ConnectionOptions } from 'node:tls';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { startLinkServer } from '../../../../console/hub/link/server.js';
import { aCa } from '../../../helpers/pki.js';
import { run, tempDir } from '../../../helpers/processes.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

/** The bytes a client receives as the stapled OCSP response (undefined when none). */
function stapleFrom(port: number, caPem: string, client: { certPem: string; keyPem: string }): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    let staple: Buffer | undefined;
    // requestOCSP is a real tls.connect option; @types/node lists it on TLSSocketOptions only.
    const options: ConnectionOptions & { requestOCSP: boolean } = { host: '127.0.0.1', port, servername: 'localhost', ca: [caPem], cert: client.certPem, key: client.keyPem, requestOCSP: true };
    const socket = connect(options);
    socket.on('OCSPResponse', (response: Buffer) => (staple = response));
    socket.on('secureConnect', () => {
      socket.end();
      resolve(staple);
    });
    socket.on('error', reject);
  });
}

it('the hub staples the OCSP response for its own certificate, and openssl accepts it', async () => {
  const ca = await aCa(tmp.dir);
  const server = await ca.issueServer({ dnsNames: ['localhost'] });
  const client = await ca.issueGateway({ id: 'staple-site' });
  const staplePath = join(tmp.dir, 'staple.der');
  writeFileSync(staplePath, ca.stapledOcspResponse(server.record.serial));
  const hub = await startLinkServer({
    host: '127.0.0.1',
    port: 0,
    caPem: ca.certificatePem,
    certPem: server.certPem,
    keyPem: server.keyPem ?? '',
    crlPath: join(ca.paths.dir, 'crl.pem'),
    ocspStaplePath: staplePath,
  });
  try {
    const staple = await stapleFrom(hub.port, ca.certificatePem, { certPem: client.certPem, keyPem: client.keyPem ?? '' });
    expect(staple?.length).toBeGreaterThan(100);
    writeFileSync(join(tmp.dir, 'got.der'), staple ?? Buffer.alloc(0));
    writeFileSync(join(tmp.dir, 'ca.pem'), ca.certificatePem);
    writeFileSync(join(tmp.dir, 'server.pem'), server.certPem);
    const r = await run('openssl', ['ocsp', '-respin', join(tmp.dir, 'got.der'), '-issuer', join(tmp.dir, 'ca.pem'), '-CAfile', join(tmp.dir, 'ca.pem'), '-cert', join(tmp.dir, 'server.pem')]);
    expect(r.stderr).toMatch(/Response verify OK/);
    expect(r.stdout).toMatch(/server\.pem: good/);
  } finally {
    await hub.close();
  }
});
