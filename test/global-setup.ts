import { execFileSync } from 'node:child_process';

// The tests run against real peers (DESIGN.md). When one is missing, say which and how to get it,
// once, instead of letting dozens of tests fail with ENOENT.
const PEERS: { bin: string; pkg: string; args?: string[] }[] = [
  { bin: 'openssl', pkg: 'openssl', args: ['version'] },
  { bin: 'tinyproxy', pkg: 'tinyproxy', args: ['-v'] },
  { bin: 'squid', pkg: 'squid', args: ['-v'] },
  { bin: 'mitmdump', pkg: 'mitmproxy', args: ['--version'] },
  { bin: 'mbpoll', pkg: 'mbpoll', args: ['-V'] },
  { bin: 'socat', pkg: 'socat', args: ['-V'] },
  { bin: '/usr/bin/python3', pkg: 'python3-pymodbus', args: ['-c', 'import pymodbus'] },
];

export default function checkPeers(): void {
  const missing = PEERS.filter(({ bin, args }) => {
    try {
      execFileSync(bin, args ?? [], { stdio: 'ignore', timeout: 20_000 });
      return false;
    } catch (err) {
      // Some tools print their version and exit non-zero; only "not found" counts as missing.
      const code = (err as NodeJS.ErrnoException).code;
      const status = (err as { status?: number }).status;
      return code === 'ENOENT' || (bin.endsWith('python3') && status !== 0);
    }
  });
  if (missing.length > 0) {
    throw new Error(
      `the tests need these peers: ${missing.map((m) => m.bin).join(', ')} — install them with\n` +
        `  apt-get install -y ${missing.map((m) => m.pkg).join(' ')}\n(.ci/run installs them on CI)`,
    );
  }
}
