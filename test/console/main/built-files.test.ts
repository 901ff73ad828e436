/**
 * A tripwire on what ships: the built main process and preload (scripts/build-electron.mjs into a
 * temporary directory) must never contain a setting that switches Electron's isolation off, an
 * inline-script CSP, or a way to open URLs in the system browser — whatever the sources and their
 * tests say, this reads the files Electron would load.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, tempDir } from '../../helpers/processes.js';

const FORBIDDEN: Array<[string, RegExp]> = [
  ['Node in the renderer', /nodeIntegration(InWorker|InSubFrames)?\s*:\s*(true|!0)/],
  ['no context isolation', /contextIsolation\s*:\s*(false|!1)/],
  ['no sandbox', /sandbox\s*:\s*(false|!1)/],
  ['no same-origin policy', /webSecurity\s*:\s*(false|!1)/],
  ['mixed content', /allowRunningInsecureContent\s*:\s*(true|!0)/],
  ['<webview>', /webviewTag\s*:\s*(true|!0)/],
  ['experimental web features', /experimentalFeatures\s*:\s*(true|!0)|enableBlinkFeatures/],
  ['inline script or eval in a CSP', /unsafe-inline|unsafe-eval|unsafe-hashes/],
  ['opening URLs in the system browser', /openExternal/],
  ['a scheme that bypasses the CSP', /bypassCSP/],
  ['Chromium switches that weaken the sandbox or web security', /no-sandbox|disable-web-security|disable-site-isolation|ignore-certificate-errors/],
  ['the remote module', /enableRemoteModule|@electron\/remote/],
];

describe('the built Electron shell', () => {
  const tmp = tempDir('lmgw-built-electron-');
  const files = new Map<string, string>();

  beforeAll(() => {
    execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-electron.mjs'), '--out', tmp.dir], { cwd: ROOT, stdio: 'pipe' });
    for (const dir of ['console/main', 'console/preload']) {
      for (const name of readdirSync(join(tmp.dir, dir))) {
        if (/\.(c|m)?js$/.test(name)) files.set(`${dir}/${name}`, readFileSync(join(tmp.dir, dir, name), 'utf8'));
      }
    }
  }, 120_000);
  afterAll(() => tmp.cleanup());

  it('reads the files Electron loads (main, the hub entry, the preload, the window rules)', () => {
    for (const f of ['console/main/main.js', 'console/main/hub-entry.js', 'console/main/windows.js', 'console/main/ipc.js', 'console/preload/preload.cjs']) {
      expect([...files.keys()], f).toContain(f);
    }
    // The tripwire would pass on empty files: check it sees the secure settings themselves.
    expect(files.get('console/main/windows.js')).toMatch(/sandbox:\s*true/);
    expect(files.get('console/main/windows.js')).toMatch(/contextIsolation:\s*true/);
  });

  it.each(FORBIDDEN)('has nothing that means %s', (_what, pattern) => {
    for (const [name, text] of files) expect(text, name).not.toMatch(pattern);
  });

  it('enables the sandbox for every renderer, holds the single-instance lock and serves only the app scheme', () => {
    const main = files.get('console/main/main.js') ?? '';
    expect(main).toMatch(/app\.enableSandbox\(\)/);
    expect(main).toMatch(/app\.requestSingleInstanceLock\(\)/);
    expect(main).toMatch(/protocol\.registerSchemesAsPrivileged\(/);
    expect(main).toMatch(/protocol\.handle\(APP_SCHEME,/);
    expect(main).not.toMatch(/loadFile\(|file:\/\/|https?:\/\//);
  });

  it('emits ES modules for main (Electron ≥ 28 loads them) next to the hub they import', () => {
    expect(files.get('console/main/main.js')).toMatch(/^import \{[^}]*\bapp\b[^}]*\} from 'electron';$/m);
    expect(existsSync(join(tmp.dir, 'console', 'hub', 'hub.js'))).toBe(true);
    expect(existsSync(join(tmp.dir, 'console', 'hub', 'config.js'))).toBe(true);
  });
});
