/**
 * A network namespace of the test's own, joined to the test's namespace by a veth pair on a private
 * /30 — the place to break a network path without touching anyone else's: packet loss is an
 * nftables rule inside the namespace, on its end of the veth only. Programs run inside with
 * `ip netns exec NAME …` (which execs them: the PID we hold is the program's own).
 *
 * This kernel has no sch_netem (CONFIG_NET_SCH_NETEM is not set), so `tc netem` cannot delay or drop;
 * loss comes from nftables' `numgen random` (real packets dropped, real TCP retransmissions) and
 * delay from the fault proxy (fault-proxy.ts).
 *
 * Needs root (CAP_NET_ADMIN), iproute2 and nftables (Debian packages iproute2, nftables).
 */
import { execFile } from 'node:child_process';
import { randomInt } from 'node:crypto';

export interface Netns {
  readonly name: string;
  /** Our end of the veth (in the test's namespace). */
  readonly hostAddress: string;
  /** The namespace's end of the veth. */
  readonly nsAddress: string;
  /** Drops this percentage of packets in each direction on the veth (0 removes the rule). */
  setLoss(percent: number): Promise<void>;
  /** Packets the loss rule dropped so far (both directions). */
  dropped(): Promise<number>;
  /** Deletes the namespace (and with it the veth pair). */
  close(): Promise<void>;
}

function sh(file: string, args: readonly string[], input?: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = execFile(file, [...args], { timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out: `${stdout}${stderr}`.trim() });
    });
    // A program that exits without reading its stdin must not fail the test with EPIPE.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
  });
}

async function must(file: string, args: readonly string[], input?: string): Promise<void> {
  const r = await sh(file, args, input);
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')}: ${r.out}`);
}

/**
 * Why namespaces cannot be used here, or undefined when they can: tries to make (and removes) one,
 * and checks for nft.
 */
export async function netnsUnavailable({ nft = true }: { nft?: boolean } = {}): Promise<string | undefined> {
  if (process.platform !== 'linux') return 'not Linux';
  if (nft && (await sh('nft', ['--version'])).code !== 0) return 'nft (Debian package nftables) is not installed';
  const name = `lmgwprobe${process.pid}`;
  const made = await sh('ip', ['netns', 'add', name]);
  if (made.code !== 0) return `cannot create a network namespace (root / CAP_NET_ADMIN needed): ${made.out}`;
  await sh('ip', ['netns', 'del', name]);
  return undefined;
}

let made = 0;

export async function aNetns(): Promise<Netns> {
  made += 1;
  const tag = `${process.pid % 100_000}x${made}`;
  const name = `lmgwfault${tag}`;
  const hostIf = `lf${tag}h`;
  const nsIf = `lf${tag}n`;
  // A /30 in 10.213.0.0/16 nobody on this machine uses yet.
  const inUse = (await sh('ip', ['-4', '-o', 'addr', 'show'])).out;
  let base = '';
  for (let i = 0; i < 50 && (base === '' || inUse.includes(`${base}.`)); i++) base = `10.213.${randomInt(1, 255)}.${randomInt(0, 63) * 4}`;
  const [a, b, c, d] = base.split('.').map(Number) as [number, number, number, number];
  const hostAddress = `${a}.${b}.${c}.${d + 1}`;
  const nsAddress = `${a}.${b}.${c}.${d + 2}`;
  const inside = (args: string[]): string[] => ['netns', 'exec', name, ...args];
  await must('ip', ['netns', 'add', name]);
  try {
    await must('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf, 'netns', name]);
    await must('ip', ['addr', 'add', `${hostAddress}/30`, 'dev', hostIf]);
    await must('ip', ['link', 'set', hostIf, 'up']);
    await must('ip', inside(['ip', 'addr', 'add', `${nsAddress}/30`, 'dev', nsIf]));
    await must('ip', inside(['ip', 'link', 'set', nsIf, 'up']));
    await must('ip', inside(['ip', 'link', 'set', 'lo', 'up']));
  } catch (err) {
    await sh('ip', ['link', 'del', hostIf]);
    await sh('ip', ['netns', 'del', name]);
    throw err;
  }
  return {
    name,
    hostAddress,
    nsAddress,
    setLoss: async (percent) => {
      await sh('ip', inside(['nft', 'delete', 'table', 'inet', 'lmgwfault']));
      if (percent <= 0) return;
      const rules =
        'table inet lmgwfault {\n' +
        `  chain in { type filter hook input priority 0; iifname "${nsIf}" numgen random mod 100 < ${percent} counter drop; }\n` +
        `  chain out { type filter hook output priority 0; oifname "${nsIf}" numgen random mod 100 < ${percent} counter drop; }\n` +
        '}\n';
      await must('ip', inside(['nft', '-f', '-']), rules);
    },
    dropped: async () => {
      const r = await sh('ip', inside(['nft', 'list', 'table', 'inet', 'lmgwfault']));
      return [...r.out.matchAll(/counter packets (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
    },
    close: async () => {
      await sh('ip', ['link', 'del', hostIf]);
      await sh('ip', ['netns', 'del', name]);
    },
  };
}

/** A namespace with nothing but its own loopback: no route leaves it, the network is unreachable from inside. */
export async function anIsolatedNetns(): Promise<{ name: string; close(): Promise<void> }> {
  made += 1;
  const name = `lmgwoffline${process.pid % 100_000}x${made}`;
  await must('ip', ['netns', 'add', name]);
  try {
    await must('ip', ['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
  } catch (err) {
    await sh('ip', ['netns', 'del', name]);
    throw err;
  }
  return { name, close: async () => void (await sh('ip', ['netns', 'del', name])) };
}
