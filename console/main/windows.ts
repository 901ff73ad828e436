/**
 * Every window of the desktop console, and what makes it safe: one function for the web preferences
 * (VS Code's windows.ts), navigation and new windows blocked, permissions denied, our windows known
 * by their webContents id so the IPC relay can tell them from anything else.
 *
 * Electron is imported for its types only: main.ts passes the BrowserWindow class in, so the rules
 * here are unit-tested in plain Node (test/console/main/windows.test.ts).
 */
import type { BrowserWindow, Session, WebPreferences } from 'electron';
import { APP_ENTRY_URL, isAppUrl } from './app-protocol.js';

/**
 * The web preferences of every window. The renderer is a web page with one bridge: sandboxed (no
 * Node, and the preload sees only a small part of Electron), context-isolated (the page cannot touch
 * the preload's objects), no Node in workers or subframes, same-origin policy on, no mixed content,
 * no <webview>, no spellchecker (it would send words to a service on some platforms), and a file
 * dropped on the window does not navigate it. Frozen, so no caller can loosen one field.
 */
export function secureWebPreferences(preloadPath: string): Readonly<WebPreferences> {
  return Object.freeze({
    preload: preloadPath,
    sandbox: true,
    contextIsolation: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    nodeIntegrationInSubFrames: false,
    webSecurity: true,
    allowRunningInsecureContent: false,
    webviewTag: false,
    spellcheck: false,
    navigateOnDragDrop: false,
    experimentalFeatures: false,
    safeDialogs: true,
  });
}

/** What `guardWebContents` needs of a WebContents (Electron's satisfies it; tests pass a fake). */
export interface GuardableContents {
  on(event: 'will-navigate', listener: (details: { url: string; preventDefault(): void }) => void): unknown;
  on(event: 'will-redirect', listener: (details: { url: string; preventDefault(): void }) => void): unknown;
  on(event: 'will-attach-webview', listener: (event: { preventDefault(): void }) => void): unknown;
  setWindowOpenHandler(handler: (details: { url: string }) => { action: 'deny' }): void;
}

/**
 * Keeps a webContents on the app's origin: a navigation or redirect anywhere else is cancelled, no
 * new window is ever opened (nothing is handed to the system browser either: the console has no
 * link it needs to open), and no <webview> can attach. `onBlocked` hears about each refusal.
 */
export function guardWebContents(contents: GuardableContents, onBlocked: (what: string, url: string) => void = () => undefined): void {
  contents.on('will-navigate', (details) => {
    if (isAppUrl(details.url)) return;
    details.preventDefault();
    onBlocked('navigation', details.url);
  });
  contents.on('will-redirect', (details) => {
    if (isAppUrl(details.url)) return;
    details.preventDefault();
    onBlocked('redirect', details.url);
  });
  contents.on('will-attach-webview', (event) => {
    event.preventDefault();
    onBlocked('webview', '');
  });
  contents.setWindowOpenHandler((details) => {
    onBlocked('new window', details.url);
    return { action: 'deny' };
  });
}

/** What `denyAllPermissions` needs of a Session. */
export type PermissionSession = Pick<Session, 'setPermissionRequestHandler' | 'setPermissionCheckHandler'>;

/**
 * The console needs no browser permission (camera, microphone, notifications, geolocation, USB,
 * serial, clipboard read, …): every request is refused and every check answers no.
 */
export function denyAllPermissions(session: PermissionSession, onDenied: (permission: string) => void = () => undefined): void {
  session.setPermissionRequestHandler((_contents, permission, callback) => {
    onDenied(permission);
    callback(false);
  });
  session.setPermissionCheckHandler(() => false);
}

/** The webContents ids of the windows this app created: the IPC relay answers only these. */
export class AppWindows {
  private readonly windows = new Map<number, BrowserWindow>();

  add(window: BrowserWindow): void {
    const id = window.webContents.id;
    this.windows.set(id, window);
    window.webContents.once('destroyed', () => this.windows.delete(id));
  }

  ids(): ReadonlySet<number> {
    return new Set(this.windows.keys());
  }

  all(): BrowserWindow[] {
    return [...this.windows.values()].filter((w) => !w.isDestroyed());
  }

  /** The first window, shown and focused (a second instance of the app lands here). */
  focusFirst(): boolean {
    const w = this.all()[0];
    if (!w) return false;
    if (w.isMinimized()) w.restore();
    w.show();
    w.focus();
    return true;
  }
}

export interface MainWindowOptions {
  /** The built preload, dist/console/preload/preload.cjs. */
  preloadPath: string;
  windows: AppWindows;
  /** Hears every blocked navigation, window or webview, and a failed load. */
  warn: (message: string) => void;
}

/** The operator console's window, on lmgw://app/index.html. */
export function createMainWindow(Window: typeof BrowserWindow, o: MainWindowOptions): BrowserWindow {
  const window = new Window({
    title: 'LMGW Console',
    width: 1440,
    height: 900,
    minWidth: 960,
    minHeight: 600,
    show: false,
    webPreferences: secureWebPreferences(o.preloadPath),
  });
  guardWebContents(window.webContents, (what, url) => o.warn(`blocked a ${what}${url ? ` to ${url}` : ''}`));
  o.windows.add(window);
  window.once('ready-to-show', () => window.show());
  window.loadURL(APP_ENTRY_URL).catch((err: unknown) => o.warn(`the window could not load ${APP_ENTRY_URL}: ${(err as Error).message}`));
  return window;
}
