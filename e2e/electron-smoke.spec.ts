/**
 * The desktop console in a real Electron, where a binary is present: the built main process
 * (dist/console/main/main.js, `npm run build`) with a hub on a test CA, one window on lmgw://app,
 * and the page's view of it — `window.lmgw` with exactly call and subscribe, no Node, navigation and
 * new windows refused, the CSP on the app's responses, a call through the bridge to the hub.
 *
 * Skipped, with the reason printed, where the electron package was installed without its binary
 * (our build and CI machines cannot download it). Never require('electron') to find the binary:
 * its index.js starts a download when the binary is missing.
 */
import { _electron as electron, expect, test, type ElectronApplication, type Page } from '@playwright/test';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { runBin, tempDir } from '../test/helpers/processes.js';

const ROOT = resolve(import.meta.dirname, '..');
const MAIN = join(ROOT, 'dist', 'console', 'main', 'main.js');
/** The test CA's passphrase (the spec imports no certs/ code: its types clash with the DOM lib page.evaluate needs). */
const CA_ENV = { LMGW_CA_PASSPHRASE: 'electron smoke passphrase' };

/** The Electron binary the electron package would run, or why there is none. */
function electronBinary(): { path: string } | { reason: string } {
  const pkg = join(ROOT, 'node_modules', 'electron');
  const pathFile = join(pkg, 'path.txt');
  const override = process.env.ELECTRON_OVERRIDE_DIST_PATH;
  if (!existsSync(pathFile) && !override) return { reason: `no Electron binary here: ${pathFile} is missing (the electron package was installed without its download)` };
  const exe = existsSync(pathFile) ? readFileSync(pathFile, 'utf8').trim() : 'electron';
  const full = override ? join(override, exe) : join(pkg, 'dist', exe);
  return existsSync(full) ? { path: full } : { reason: `no Electron binary here: ${full} does not exist` };
}

const binary = electronBinary();
if ('reason' in binary) console.log(`electron-smoke: skipped — ${binary.reason}`);

test.describe('the desktop console in Electron', () => {
  test.skip('reason' in binary, 'reason' in binary ? binary.reason : '');

  const tmp = tempDir('lmgw-electron-smoke-');
  let app: ElectronApplication;
  let page: Page;

  test.beforeAll(async () => {
    if (!('path' in binary)) return;
    expect(existsSync(MAIN), `${MAIN} is missing: run npm run build`).toBe(true);
    const userData = join(tmp.dir, 'user-data');
    mkdirSync(userData, { recursive: true });
    // The CA and the console's certificate with lmgw-ca, as an operator makes them.
    const pki = join(tmp.dir, 'pki');
    for (const args of [['init', '--pki', pki], ['issue-server', '--pki', pki, '--dns', 'localhost', '--ip', '127.0.0.1', '--out', join(userData, 'tls')]]) {
      const ran = await runBin('lmgw-ca', args, CA_ENV);
      expect(ran.code, ran.stderr).toBe(0);
    }
    writeFileSync(
      join(userData, 'settings.json'),
      JSON.stringify({
        listen: { host: '127.0.0.1', port: 0 },
        tls: { ca: 'tls/ca.pem', cert: 'tls/server.pem', key: 'tls/server.key', crl: join(pki, 'crl.pem') },
        timeZone: 'Europe/Zurich',
      }),
    );
    app = await electron.launch({ executablePath: binary.path, args: [MAIN], env: { ...process.env, LMGW_CONSOLE_USER_DATA: userData } });
    page = await app.firstWindow();
    await page.waitForLoadState('domcontentloaded');
  });

  test.afterAll(async () => {
    await app?.close();
    tmp.cleanup();
  });

  test('one window titled LMGW on the app origin', async () => {
    await expect(page).toHaveTitle(/LMGW/);
    expect(page.url()).toMatch(/^lmgw:\/\/app\//);
    expect(app.windows()).toHaveLength(1);
  });

  test('the page gets window.lmgw with exactly call and subscribe, and no Node', async () => {
    const seen = await page.evaluate(() => {
      const w = window as unknown as Record<string, unknown>;
      const lmgw = w.lmgw as Record<string, unknown> | undefined;
      return {
        keys: lmgw ? Object.keys(lmgw).sort() : null,
        call: typeof lmgw?.call,
        subscribe: typeof lmgw?.subscribe,
        require: typeof w.require,
        process: typeof w.process,
        module: typeof w.module,
        Buffer: typeof w.Buffer,
        electron: typeof w.electron,
        ipcRenderer: typeof w.ipcRenderer,
      };
    });
    expect(seen).toEqual({ keys: ['call', 'subscribe'], call: 'function', subscribe: 'function', require: 'undefined', process: 'undefined', module: 'undefined', Buffer: 'undefined', electron: 'undefined', ipcRenderer: 'undefined' });
  });

  test('a call reaches the hub through the bridge, and a bad one is refused with its code', async () => {
    const info = await page.evaluate(() => (window as unknown as { lmgw: { call(m: string, p: unknown): Promise<{ version: string; linkUrl: string }> } }).lmgw.call('info', {}));
    expect(info.linkUrl).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/lmgw\/v1$/);
    const refused = await page.evaluate(() =>
      (window as unknown as { lmgw: { call(m: string, p: unknown): Promise<unknown> } }).lmgw.call('dropTables', {}).then(
        () => 'resolved',
        (e: Error) => e.message,
      ),
    );
    expect(refused).toContain('OP_BAD_REQUEST');
  });

  test('the app refuses navigation and new windows, and serves the CSP', async () => {
    await page.evaluate(() => {
      window.location.href = 'https://example.com/';
    });
    await page.waitForTimeout(500);
    expect(page.url()).toMatch(/^lmgw:\/\/app\//);
    expect(await page.evaluate(() => window.open('https://example.com/') === null)).toBe(true);
    expect(app.windows()).toHaveLength(1);
    const csp = await page.evaluate(async () => (await fetch('/index.html')).headers.get('content-security-policy'));
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe');
  });
});
