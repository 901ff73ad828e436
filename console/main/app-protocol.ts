/**
 * The app's own origin, `lmgw://app/`: the only content a window of the desktop console ever shows.
 * The built renderer (dist/console/renderer) is served from it by a protocol handler — never from
 * file:// (every local file would share the page's origin) and never from a remote URL.
 *
 * Nothing here imports Electron: main.ts registers the scheme and hands `createAppProtocolHandler`
 * to `protocol.handle`; the handler takes a fetch `Request` and answers a `Response`, so it runs
 * (and is tested) in plain Node too.
 */
import { readFile, realpath, stat } from 'node:fs/promises';
import { extname, join, sep } from 'node:path';
import { CONTENT_TYPES, pathSegments } from '../hub/operator/static-files.js';

export const APP_SCHEME = 'lmgw';
export const APP_HOST = 'app';
/** How the origin is written (Chromium's tuple origin of a standard scheme). */
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
export const APP_ENTRY_URL = `${APP_ORIGIN}/index.html`;

/**
 * The scheme's privileges (protocol.registerSchemesAsPrivileged, before the app is ready), as VS
 * Code gives its vscode-file scheme: standard (relative URLs and a real origin, so 'self' in the
 * CSP means lmgw://app), secure (a secure context, like https), fetch and CORS (module scripts are
 * CORS requests, even to their own origin), and V8's code cache.
 */
export const APP_SCHEME_PRIVILEGES = {
  standard: true,
  secure: true,
  supportFetchAPI: true,
  corsEnabled: true,
  codeCache: true,
} as const;

/**
 * The Content-Security-Policy of every response: scripts, styles and everything else only from the
 * app's own origin (no inline script or style, no eval), images also as data: URLs, no framing, no
 * <base>, no form submission, no plugins. Sent as a response header, so the page cannot weaken it.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "object-src 'none'",
].join('; ');

/** The headers of every response of the app's origin, the refusals included. */
export const APP_RESPONSE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
};

/**
 * Whether a URL belongs to the app's origin: scheme lmgw, host app, no user, password or port.
 * (Node's URL gives a non-special scheme the opaque origin "null", so the parts are compared.)
 */
export function isAppUrl(url: string): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  return u.protocol === `${APP_SCHEME}:` && u.host === APP_HOST && u.username === '' && u.password === '' && u.port === '';
}

export type AppFile =
  | { kind: 'file'; path: string; contentType: string }
  /** The renderer directory or its index.html is missing: the UI was not built. */
  | { kind: 'not-built' }
  | { kind: 'not-found'; reason: string };

async function realDir(dir: string): Promise<string | undefined> {
  try {
    const real = await realpath(dir);
    return (await stat(real)).isDirectory() ? real : undefined;
  } catch {
    return undefined;
  }
}

/** A regular file inside `root` (a realpath), or why not. Symlinks are resolved first, then confined. */
async function fileInside(root: string, segments: readonly string[]): Promise<string | { reason: string }> {
  let real: string;
  try {
    real = await realpath(join(root, ...segments));
  } catch {
    return { reason: 'no such file' };
  }
  if (real !== root && !real.startsWith(root + sep)) return { reason: 'resolves outside the renderer directory' };
  try {
    if (!(await stat(real)).isFile()) return { reason: 'not a regular file' };
  } catch {
    return { reason: 'cannot be read' };
  }
  return real;
}

/**
 * The file an app URL names inside `root`, with the rules of the browser-mode static server
 * (console/hub/operator/static-files.ts, whose path check this reuses): each segment decoded on its
 * own, no empty, dot or dot-dot segment, no hidden file, no slash, backslash or NUL; the file's
 * realpath must lie inside root's realpath. A path without an extension that names no file gets
 * index.html (the UI's client-side routes). Reads go through fs calls Electron supports inside an
 * asar archive (realpath, stat, readFile).
 */
export async function resolveAppFile(root: string, url: string): Promise<AppFile> {
  if (!isAppUrl(url)) return { kind: 'not-found', reason: 'not of the app origin' };
  const segments = pathSegments(new URL(url).pathname);
  if (segments === undefined) return { kind: 'not-found', reason: 'path not acceptable' };
  const realRoot = await realDir(root);
  const last = segments[segments.length - 1];
  // `/`, `/index.html` and client-side routes (no extension) are the page itself.
  const wantsIndex = last === undefined || extname(last) === '' || (segments.length === 1 && last === 'index.html');
  if (realRoot === undefined) return wantsIndex ? { kind: 'not-built' } : { kind: 'not-found', reason: 'no renderer directory' };
  if (segments.length > 0) {
    const found = await fileInside(realRoot, segments);
    if (typeof found === 'string') {
      return { kind: 'file', path: found, contentType: CONTENT_TYPES[extname(found).toLowerCase()] ?? 'application/octet-stream' };
    }
    if (!wantsIndex) return { kind: 'not-found', reason: found.reason };
  }
  const index = await fileInside(realRoot, ['index.html']);
  if (typeof index !== 'string') return { kind: 'not-built' };
  return { kind: 'file', path: index, contentType: CONTENT_TYPES['.html'] ?? 'text/html; charset=utf-8' };
}

/** Shown when dist/console/renderer has no index.html (no script or style: the CSP allows neither inline). */
export const NOT_BUILT_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>LMGW Console</title></head>
<body>
<h1>LMGW Console</h1>
<p>The operator UI is not built into this installation (npm run build makes dist/console/renderer).</p>
</body>
</html>
`;

function textResponse(status: number, body: string, contentType = 'text/plain; charset=utf-8'): Response {
  return new Response(body, { status, headers: { ...APP_RESPONSE_HEADERS, 'content-type': contentType } });
}

/**
 * The handler of the app scheme (`protocol.handle(APP_SCHEME, createAppProtocolHandler(dir))`):
 * GET and HEAD of files inside `rendererDir`, every response with the strict CSP. Anything else —
 * another host, another method, a path that leaves the directory — is refused without a hint.
 */
export function createAppProtocolHandler(rendererDir: string): (request: Request) => Promise<Response> {
  return async function serveApp(request: Request): Promise<Response> {
    if (request.method !== 'GET' && request.method !== 'HEAD') return textResponse(405, 'method not allowed');
    const found = await resolveAppFile(rendererDir, request.url);
    switch (found.kind) {
      case 'not-found':
        return textResponse(404, 'not found');
      case 'not-built':
        return textResponse(200, NOT_BUILT_PAGE, 'text/html; charset=utf-8');
      case 'file': {
        let body: Buffer;
        try {
          body = await readFile(found.path);
        } catch {
          return textResponse(404, 'not found');
        }
        const headers = { ...APP_RESPONSE_HEADERS, 'content-type': found.contentType, 'content-length': String(body.byteLength) };
        return new Response(request.method === 'HEAD' ? null : new Uint8Array(body), { status: 200, headers });
      }
    }
  };
}
