/**
 * The window rules without Electron: the web preferences field by field, and the guards on a fake
 * webContents and session that record what the handlers decided.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { denyAllPermissions, guardWebContents, secureWebPreferences, type GuardableContents, type PermissionSession } from '../../../console/main/windows.js';

describe('secureWebPreferences', () => {
  const prefs = secureWebPreferences('/opt/lmgw/resources/app.asar/dist/console/preload/preload.cjs');

  it('sets every isolation field, one by one', () => {
    expect(prefs.preload).toBe('/opt/lmgw/resources/app.asar/dist/console/preload/preload.cjs');
    expect(prefs.sandbox).toBe(true);
    expect(prefs.contextIsolation).toBe(true);
    expect(prefs.nodeIntegration).toBe(false);
    expect(prefs.nodeIntegrationInWorker).toBe(false);
    expect(prefs.nodeIntegrationInSubFrames).toBe(false);
    expect(prefs.webSecurity).toBe(true);
    expect(prefs.allowRunningInsecureContent).toBe(false);
    expect(prefs.webviewTag).toBe(false);
    expect(prefs.spellcheck).toBe(false);
    expect(prefs.navigateOnDragDrop).toBe(false);
    expect(prefs.experimentalFeatures).toBe(false);
  });

  it('sets nothing that loosens them (no extra field slips in unnoticed)', () => {
    expect(Object.keys(prefs).sort()).toEqual(
      [
        'allowRunningInsecureContent',
        'contextIsolation',
        'experimentalFeatures',
        'navigateOnDragDrop',
        'nodeIntegration',
        'nodeIntegrationInSubFrames',
        'nodeIntegrationInWorker',
        'preload',
        'safeDialogs',
        'sandbox',
        'spellcheck',
        'webSecurity',
        'webviewTag',
      ].sort(),
    );
  });

  it('cannot be changed by whoever gets it', () => {
    expect(Object.isFrozen(prefs)).toBe(true);
    expect(() => {
      (prefs as { sandbox: boolean }).sandbox = false;
    }).toThrow(TypeError);
  });
});

/** A webContents that records what the guards decided. */
class FakeContents extends EventEmitter implements GuardableContents {
  openHandler: ((details: { url: string }) => { action: 'deny' }) | undefined;
  setWindowOpenHandler(handler: (details: { url: string }) => { action: 'deny' }): void {
    this.openHandler = handler;
  }
  /** Emits a navigation-like event; true when a guard prevented it. */
  attempt(event: 'will-navigate' | 'will-redirect' | 'will-attach-webview', url = ''): boolean {
    let prevented = false;
    this.emit(event, { url, preventDefault: () => (prevented = true) });
    return prevented;
  }
}

describe('guardWebContents', () => {
  function guarded(): { contents: FakeContents; blocked: string[] } {
    const contents = new FakeContents();
    const blocked: string[] = [];
    guardWebContents(contents, (what, url) => blocked.push(`${what} ${url}`));
    return { contents, blocked };
  }

  it('lets the window move inside the app origin', () => {
    const { contents, blocked } = guarded();
    expect(contents.attempt('will-navigate', 'lmgw://app/index.html')).toBe(false);
    expect(contents.attempt('will-redirect', 'lmgw://app/fleet')).toBe(false);
    expect(blocked).toEqual([]);
  });

  it.each(['https://evil.example/', 'http://127.0.0.1:8480/', 'file:///etc/passwd', 'lmgw://other/', 'javascript:alert(1)', 'data:text/html,x'])('cancels a navigation or redirect to %s', (url) => {
    const { contents, blocked } = guarded();
    expect(contents.attempt('will-navigate', url)).toBe(true);
    expect(contents.attempt('will-redirect', url)).toBe(true);
    expect(blocked).toEqual([`navigation ${url}`, `redirect ${url}`]);
  });

  it('opens no window, not even one of the app origin, and attaches no webview', () => {
    const { contents, blocked } = guarded();
    expect(contents.openHandler?.({ url: 'https://evil.example/' })).toEqual({ action: 'deny' });
    expect(contents.openHandler?.({ url: 'lmgw://app/index.html' })).toEqual({ action: 'deny' });
    expect(contents.attempt('will-attach-webview')).toBe(true);
    expect(blocked).toEqual(['new window https://evil.example/', 'new window lmgw://app/index.html', 'webview ']);
  });
});

describe('denyAllPermissions', () => {
  it('refuses every request and answers no to every check', () => {
    const handlers: {
      request?: Parameters<PermissionSession['setPermissionRequestHandler']>[0];
      check?: Parameters<PermissionSession['setPermissionCheckHandler']>[0];
    } = {};
    const session: PermissionSession = {
      setPermissionRequestHandler: (h) => void (handlers.request = h),
      setPermissionCheckHandler: (h) => void (handlers.check = h),
    };
    const denied: string[] = [];
    denyAllPermissions(session, (p) => denied.push(p));
    const granted: boolean[] = [];
    for (const permission of ['media', 'geolocation', 'notifications', 'clipboard-read', 'serial', 'usb', 'openExternal'] as const) {
      // The handlers never look at the webContents or the details; the fake stands in for both.
      handlers.request?.({} as never, permission, (ok) => granted.push(ok), {} as never);
      expect(handlers.check?.(null, permission, 'lmgw://app', {} as never)).toBe(false);
    }
    expect(granted).toEqual([false, false, false, false, false, false, false]);
    expect(denied).toEqual(['media', 'geolocation', 'notifications', 'clipboard-read', 'serial', 'usb', 'openExternal']);
  });
});
