import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LMGW_VERSION } from '../../shared/version.js';
import { ROOT, runBin } from '../helpers/processes.js';

// What every LMGW command has in common, run as a user runs them (bin/ on the built dist/).

const PACKAGE_VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const BINS = ['lm-console', 'lmgw-agent', 'lmgw-ca', 'lm-sim'] as const;

describe('every command', () => {
  it('knows the package version (hello, the hub\'s info and --version say it)', () => {
    expect(LMGW_VERSION).toBe(PACKAGE_VERSION);
  });

  for (const bin of BINS) {
    it(`${bin} --version prints "${bin} <package version>" and exits 0; --help lists it`, async () => {
      const version = await runBin(bin, ['--version']);
      expect(version.code, version.stderr).toBe(0);
      expect(version.stdout).toBe(`${bin} ${PACKAGE_VERSION}\n`);
      expect(version.stderr).toBe('');
      const help = await runBin(bin, ['--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(new RegExp(`^ +${bin} --help \\| --version$`, 'm'));
    });
  }

  // A typo in the level is bad usage: one line naming the variable, the value and the choices; exit 2.
  const badLevel: { bin: (typeof BINS)[number]; args: string[]; variable: string }[] = [
    { bin: 'lm-console', args: ['--headless', '--config', 'never-read.json'], variable: 'LMGW_LOG_LEVEL' },
    { bin: 'lmgw-agent', args: ['run', '--config', 'never-read.json'], variable: 'LMGW_LOG_LEVEL' },
    { bin: 'lm-sim', args: ['fleet', '--gateways', '1', '--console', 'wss://127.0.0.1:1/lmgw/v1', '--certs', 'never-read'], variable: 'LMGW_SIM_LOG_LEVEL' },
  ];
  for (const c of badLevel) {
    it(`${c.bin} refuses ${c.variable}=verbose before it reads anything: exit 2, one line, no stack trace`, async () => {
      const r = await runBin(c.bin, c.args, { [c.variable]: 'verbose' });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toBe(`${c.bin}: CLI_USAGE: ${c.variable} must be one of trace, debug, info, warn, error, fatal, silent, not "verbose"\n`);
      expect(r.stdout).toBe('');
    });
  }
});
