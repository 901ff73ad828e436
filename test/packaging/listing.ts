/** Reading a package as a user would: dpkg-deb's listing and fields, readelf's verdict on its native files. */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { run } from '../helpers/processes.js';

/** `dpkg-deb -c`: paths without the leading ./, a symlink as "path -> target". */
export async function debListing(deb: string): Promise<string[]> {
  const listed = await run('dpkg-deb', ['-c', deb]);
  expect(listed.code, listed.stderr).toBe(0);
  return listed.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => /^\S+\s+\S+\s+\d+\s+\S+\s+\S+\s+\.\/(.*)$/.exec(l)?.[1] ?? `unparsed: ${l}`)
    .filter((p) => p !== '');
}

export async function debField(deb: string, field: string): Promise<string> {
  const r = await run('dpkg-deb', ['-f', deb, field]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

/** Every ELF file under `dir` with the machine readelf names ("Advanced Micro Devices X86-64", "AArch64"). */
export async function elfMachines(dir: string): Promise<Map<string, string>> {
  const machines = new Map<string, string>();
  const walk = async (at: string): Promise<void> => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const full = join(at, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile() && readFileSync(full).subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) {
        const r = await run('readelf', ['-h', full]);
        machines.set(full.slice(dir.length + 1), /Machine:\s+(.+)/.exec(r.stdout)?.[1]?.trim() ?? `readelf failed: ${r.stderr}`);
      }
    }
  };
  await walk(dir);
  return machines;
}


/**
 * What `systemd-analyze verify` finds wrong with a unit file (unknown keys, bad values), leaving out
 * that its program is not installed on this machine; undefined where systemd-analyze is missing.
 */
export async function unitProblems(unitFile: string): Promise<string[] | undefined> {
  if ((await run('systemd-analyze', ['--version'])).code !== 0) return undefined;
  const r = await run('systemd-analyze', ['verify', unitFile]);
  return `${r.stdout}\n${r.stderr}`
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/Command \S+ is not executable: No such file or directory/.test(l));
}

/**
 * What a .deb's maintainer scripts do to the system, without doing it: each script (`dpkg-deb -e`)
 * runs under `sh` with only stubs on PATH (every command it calls is recorded, and one it calls
 * that has no stub fails it), systemd present (`/run/systemd/system` pointed at a folder of the
 * test's) and `systemctl is-active` saying the service runs. `getent` finds no user.
 * Returns the recorded commands of `postinst configure`, `prerm remove` and `postrm purge`.
 */
async function maintainerScriptCalls(deb: string, dir: string): Promise<{ configure: string[]; remove: string[]; purge: string[] }> {
  const control = join(dir, 'DEBIAN');
  const stubs = join(dir, 'stubs');
  const systemd = join(dir, 'run-systemd-system');
  for (const d of [stubs, systemd]) mkdirSync(d, { recursive: true });
  const extracted = await run('dpkg-deb', ['-e', deb, control]);
  expect(extracted.code, extracted.stderr).toBe(0);
  const log = join(dir, 'calls');
  for (const cmd of ['getent', 'useradd', 'install', 'systemctl', 'rm']) {
    writeFileSync(join(stubs, cmd), `#!/bin/sh\necho "\${0##*/} $*" >> '${log}'\n${cmd === 'getent' ? 'exit 2\n' : ''}`, { mode: 0o755 });
  }
  const calls = async (script: string, arg: string): Promise<string[]> => {
    writeFileSync(log, '');
    const text = readFileSync(join(control, script), 'utf8').replaceAll('/run/systemd/system', systemd);
    const r = await run('/bin/sh', ['-c', text, script, arg], { env: { PATH: stubs } });
    expect(r.code, `${script} ${arg}: ${r.stderr}`).toBe(0);
    return readFileSync(log, 'utf8').split('\n').filter(Boolean);
  };
  return { configure: await calls('postinst', 'configure'), remove: await calls('prerm', 'remove'), purge: await calls('postrm', 'purge') };
}

/**
 * The maintainer scripts of a package made by packaging/lib.mjs do what docs/operations.md says:
 * install makes the service user and its config folder (0700), an upgrade restarts a running
 * service, remove disables it, purge deletes the state folder only.
 */
export async function expectMaintainerScripts(deb: string, dir: string, p: { user: string; configDir: string; service: string; stateDir: string }): Promise<void> {
  const calls = await maintainerScriptCalls(deb, dir);
  expect(calls.configure).toEqual([
    `getent passwd ${p.user}`,
    `useradd --system --user-group --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin ${p.user}`,
    ...(existsSync(p.configDir) ? [] : [`install -d -o ${p.user} -g ${p.user} -m 0700 ${p.configDir}`]),
    'systemctl daemon-reload',
    `systemctl is-active --quiet ${p.service}`,
    `systemctl restart ${p.service}`,
  ]);
  expect(calls.remove).toEqual([`systemctl disable --now ${p.service}`]);
  expect(calls.purge).toEqual(['systemctl daemon-reload', `rm -rf ${p.stateDir}`]);
}
