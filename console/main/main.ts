/**
 * The desktop console's main process (Electron, ES module; the packaged app's entry via
 * electron-builder's extraMetadata.main). A thin shell: one window on lmgw://app, the hub in a
 * utilityProcess, the bridge relayed between them, a menu, the settings file. Everything with a
 * rule in it lives in a module that runs without Electron and is tested there; this file only
 * wires Electron's objects to them.
 *
 *   <userData>/settings.json   the hub config (settings.ts), validated before the hub starts
 *   <userData>/data/           the hub's database (unless the settings say otherwise)
 *   <userData>/logs/           main.log and hub.log (JSON lines)
 *
 * LMGW_CONSOLE_USER_DATA=DIR uses another user-data directory (a second installation, the smoke
 * test). LMGW_CA_PASSPHRASE unlocks the CA directory when the settings name one.
 */
import { app, BrowserWindow, dialog, ipcMain, Menu, nativeTheme, protocol, session, shell, utilityProcess, type MenuItemConstructorOptions } from 'electron';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';
import { createLogger, logLevelFrom } from '../../shared/node/log.js';
import { checkCaPassphrase } from '../hub/hub-options.js';
import { APP_SCHEME, APP_SCHEME_PRIVILEGES, createAppProtocolHandler } from './app-protocol.js';
import { refusal } from './hub-bridge.js';
import { startHubProcess, type HubProcess } from './hub-process.js';
import { registerBridgeIpc, sendEvent } from './ipc.js';
import { desktopOperator, describeSettings, loadSettings, SETTINGS_FILE, writeSettingsExample } from './settings.js';
import { AppWindows, createMainWindow, denyAllPermissions, guardWebContents } from './windows.js';

const HERE = dirname(fileURLToPath(import.meta.url)); // dist/console/main
const PRELOAD = join(HERE, '..', 'preload', 'preload.cjs');
const RENDERER_DIR = join(HERE, '..', 'renderer');
const HUB_ENTRY = join(HERE, 'hub-entry.js');
const APP_ROOT = join(HERE, '..', '..', '..');

// --- before ready ----------------------------------------------------------------------------------
if (process.env.LMGW_CONSOLE_USER_DATA) app.setPath('userData', resolve(process.env.LMGW_CONSOLE_USER_DATA));
// Every renderer sandboxed, whatever a window's preferences say.
app.enableSandbox();
protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: APP_SCHEME_PRIVILEGES }]);

const windows = new AppWindows();
const operator = desktopOperator();
let log: Logger = pino({ level: 'silent' });
let hub: HubProcess | undefined;
let hubProblem = 'the hub is starting';
let stopEvents: (() => void) | undefined;
let quitting = false;

// Every webContents the app ever gets (the window, devtools, anything a library might open) stays
// on the app's origin, opens no window and attaches no <webview>.
app.on('web-contents-created', (_event, contents) => guardWebContents(contents, (what, url) => log.warn({ what, url: url.slice(0, 200) }, `blocked a ${what}`)));

if (!app.requestSingleInstanceLock()) {
  // Another instance owns the window and the hub's port; it is focused by its 'second-instance'.
  app.quit();
} else {
  app.on('second-instance', () => windows.focusFirst());
  app.on('window-all-closed', () => app.quit());
  app.on('before-quit', (event) => {
    if (quitting || hub === undefined) return;
    event.preventDefault();
    quitting = true;
    void stopHub().finally(() => app.quit());
  });
  // fatal() for anything ready() throws too (a bad LMGW_LOG_LEVEL): a dialog and exit 1, not a windowless app.
  app.whenReady().then(ready).catch((err: unknown) => fatal(err));
}

function userData(): string {
  return app.getPath('userData');
}

function settingsPath(): string {
  return join(userData(), SETTINGS_FILE);
}

function docsDir(): string {
  return app.isPackaged ? join(process.resourcesPath, 'docs') : join(APP_ROOT, 'docs');
}

function fatal(err: unknown): void {
  log.fatal({ err }, 'the desktop console failed to start');
  dialog.showErrorBox('LMGW Console', `The console could not start: ${(err as Error)?.message ?? String(err)}`);
  app.exit(1);
}

async function ready(): Promise<void> {
  mkdirSync(userData(), { recursive: true, mode: 0o700 });
  log = createLogger({ name: 'lmgw-console', level: logLevelFrom(process.env), base: { process: 'main' }, destination: { file: join(userData(), 'logs', 'main.log') } });
  denyAllPermissions(session.defaultSession, (permission) => log.warn({ permission }, 'denied a permission request'));
  protocol.handle(APP_SCHEME, createAppProtocolHandler(RENDERER_DIR));
  registerBridgeIpc(ipcMain, {
    knownIds: () => windows.ids(),
    forward: (call) => (hub ? hub.client.call(call) : Promise.resolve(refusal('OP_INTERNAL', `the hub is not running: ${hubProblem} (File → Settings…)`))),
    warn: (message) => log.warn(message),
  });
  Menu.setApplicationMenu(Menu.buildFromTemplate(menuTemplate()));
  createMainWindow(BrowserWindow, { preloadPath: PRELOAD, windows, warn: (message) => log.warn(message) });
  await startHub();
}

// --- the hub ----------------------------------------------------------------------------------------

async function startHub(): Promise<void> {
  if (hub) return;
  const settings = loadSettings(settingsPath());
  if (settings.kind !== 'ok') {
    const example = writeSettingsExample(userData());
    hubProblem = settings.kind === 'missing' ? 'no settings yet' : 'the settings are not valid';
    log.warn({ settings: settings.path, problem: settings.kind === 'invalid' ? settings.message : 'missing' }, hubProblem);
    const detail =
      settings.kind === 'missing'
        ? `Create ${settings.path} (an example is in ${example}): the TLS files of the link, the port, the time zone. ` +
          'The format is the hub config of docs/operations.md, "Install the desktop console".'
        : `${settings.path}:\n${settings.code}: ${settings.message}`;
    await explain(settings.kind === 'missing' ? 'No settings yet' : 'The settings are not valid', detail);
    return;
  }
  const caPassphrase = process.env.LMGW_CA_PASSPHRASE;
  try {
    checkCaPassphrase(settings.config, caPassphrase);
    hub = await startHubProcess((modulePath, args, options) => utilityProcess.fork(modulePath, args, options), {
      entryPath: HUB_ENTRY,
      start: {
        type: 'start',
        config: settings.config,
        operator,
        ...(caPassphrase ? { caPassphrase } : {}),
        logFile: join(userData(), 'logs', 'hub.log'),
      },
      log,
    });
  } catch (err) {
    // HubStartError carries the hub's code, LmgwError (CA_NO_PASSPHRASE) its own.
    const code = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : 'OP_INTERNAL';
    hubProblem = `${code}: ${(err as Error).message}`;
    log.error({ code, err }, 'the hub did not start');
    await explain('The hub did not start', hubProblem);
    return;
  }
  const running = hub;
  hubProblem = '';
  log.info({ linkUrl: running.ready.linkUrl, operator }, 'hub running');
  stopEvents = running.client.onEvent((event) => sendEvent(windows.all().map((w) => w.webContents), event));
  running.onExit((code) => {
    stopEvents?.();
    if (hub !== running) return;
    hub = undefined;
    hubProblem = `the hub stopped (exit code ${code})`;
    if (quitting) return;
    log.error({ code }, hubProblem);
    void explain('The hub stopped', `${hubProblem}; the log is ${join(userData(), 'logs', 'hub.log')}`);
  });
}

async function stopHub(): Promise<void> {
  const running = hub;
  hub = undefined;
  hubProblem = 'the hub was stopped';
  stopEvents?.();
  await running?.stop();
}

/** One dialog for every hub problem: open the settings folder, try again, go on without a hub, or quit. */
async function explain(message: string, detail: string): Promise<void> {
  const buttons = ['Open settings folder', 'Retry', 'Continue without hub', 'Quit'] as const;
  const { response } = await dialog.showMessageBox({ type: 'warning', title: 'LMGW Console', message, detail, buttons: [...buttons], defaultId: 1, cancelId: 2, noLink: true });
  switch (buttons[response] ?? 'Continue without hub') {
    case 'Open settings folder':
      await shell.openPath(userData());
      return explain(message, detail);
    case 'Retry':
      return startHub();
    case 'Quit':
      app.quit();
      return;
    case 'Continue without hub':
      return;
  }
}

// --- menu -------------------------------------------------------------------------------------------

async function showSettings(): Promise<void> {
  const settings = loadSettings(settingsPath());
  const status = hub ? `The hub is running: ${hub.ready.linkUrl}` : `The hub is not running: ${hubProblem}`;
  const body =
    settings.kind === 'ok'
      ? describeSettings(settings.config)
      : settings.kind === 'missing'
        ? 'There is no settings file yet.'
        : `${settings.code}: ${settings.message}`;
  const buttons = ['Open settings folder', 'Restart hub with these settings', 'Close'];
  const { response } = await dialog.showMessageBox({
    type: settings.kind === 'invalid' ? 'warning' : 'info',
    title: 'Settings',
    message: settingsPath(),
    detail: `${body}\n\n${status}\nOperations are audited as "${operator}".`,
    buttons,
    defaultId: 2,
    cancelId: 2,
    noLink: true,
  });
  if (buttons[response] === 'Open settings folder') await shell.openPath(userData());
  if (buttons[response] === 'Restart hub with these settings') {
    await stopHub();
    await startHub();
  }
}

async function showAbout(): Promise<void> {
  await dialog.showMessageBox({
    type: 'info',
    title: 'About LMGW Console',
    message: `LMGW Console ${app.getVersion()}`,
    detail: [
      `Electron ${process.versions.electron}, Chromium ${process.versions.chrome}, Node ${process.versions.node}`,
      hub ? `Link: ${hub.ready.linkUrl}` : `Hub: not running (${hubProblem})`,
      `Data and settings: ${userData()}`,
      `Operator: ${operator}`,
    ].join('\n'),
    buttons: ['Close'],
  });
}

function menuTemplate(): MenuItemConstructorOptions[] {
  const report = (what: string) => (err: unknown) => log.error({ err }, `${what} failed`);
  const view: MenuItemConstructorOptions[] = [
    ...(app.isPackaged ? [] : ([{ role: 'reload' }, { role: 'toggleDevTools' }, { type: 'separator' }] as MenuItemConstructorOptions[])),
    {
      label: 'Toggle Dark',
      click: () => {
        nativeTheme.themeSource = nativeTheme.shouldUseDarkColors ? 'light' : 'dark';
      },
    },
  ];
  return [
    ...(process.platform === 'darwin' ? [{ role: 'appMenu' } as MenuItemConstructorOptions] : []),
    {
      label: 'File',
      submenu: [
        { label: 'Settings…', accelerator: 'CmdOrCtrl+,', click: () => void showSettings().catch(report('Settings')) },
        { type: 'separator' },
        { role: 'quit' },
      ],
    },
    { label: 'View', submenu: view },
    {
      label: 'Help',
      submenu: [
        { label: 'About LMGW Console', click: () => void showAbout().catch(report('About')) },
        { label: 'Documentation Folder', click: () => void shell.openPath(docsDir()).catch(report('Opening the documentation')) },
      ],
    },
  ];
}
