/**
 * Serving the built renderer (browser mode) from one directory, and nothing outside it.
 *
 * A request path is split into segments, each percent-decoded on its own; a segment that is empty,
 * `.` or `..`, starts with a dot, or holds `/`, `\` or NUL is refused. The file found is then
 * resolved with realpath and must still lie inside the directory's own realpath, so a symlink cannot
 * lead out of it. Unknown paths without an extension get index.html (client-side routes).
 */
import { constants, type Stats } from 'node:fs';
import { open, realpath, type FileHandle } from 'node:fs/promises';
import { extname, join, sep } from 'node:path';

export const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

/** An open file to send: the caller streams `file` and closes it. */
export interface StaticFile {
  file: FileHandle;
  stats: Stats;
  contentType: string;
  /** index.html (for `/` or a client-side route) rather than the file named. */
  isIndex: boolean;
}

export type StaticLookup =
  | { kind: 'file'; found: StaticFile }
  /** No static directory (not given, missing, or without index.html): the UI is not built. */
  | { kind: 'not-built' }
  | { kind: 'not-found'; reason: string };

/** The segments of a request path (the part before `?`), or undefined when one is not acceptable. */
export function pathSegments(pathname: string): string[] | undefined {
  if (!pathname.startsWith('/')) return undefined;
  if (pathname === '/') return [];
  const segments: string[] = [];
  for (const raw of pathname.slice(1).split('/')) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return undefined;
    }
    if (segment === '' || segment.startsWith('.') || /[/\\\0]/.test(segment)) return undefined;
    segments.push(segment);
  }
  return segments;
}

async function realDir(dir: string | undefined): Promise<string | undefined> {
  if (dir === undefined) return undefined;
  try {
    return await realpath(dir);
  } catch {
    return undefined;
  }
}

/** Opens a regular file inside `root` (a realpath), or returns why not. */
async function openInside(root: string, segments: readonly string[]): Promise<{ file: FileHandle; stats: Stats } | string> {
  let real: string;
  try {
    real = await realpath(join(root, ...segments));
  } catch {
    return 'no such file';
  }
  if (real !== root && !real.startsWith(root + sep)) return 'resolves outside the static directory';
  let file: FileHandle;
  try {
    // O_NOFOLLOW: the path was just resolved; a symlink swapped in since is not followed.
    file = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return 'cannot be opened';
  }
  const stats = await file.stat();
  if (!stats.isFile()) {
    await file.close();
    return 'not a regular file';
  }
  return { file, stats };
}

/**
 * Looks a request path up in `staticDir`. The directory is resolved at every request, so a renderer
 * built after the hub started is served without a restart.
 */
export async function lookupStatic(staticDir: string | undefined, pathname: string): Promise<StaticLookup> {
  const root = await realDir(staticDir);
  const segments = pathSegments(pathname);
  if (segments === undefined) return { kind: 'not-found', reason: 'path not acceptable' };
  const last = segments[segments.length - 1];
  const wantsIndex = last === undefined || extname(last) === '';
  if (root === undefined) return wantsIndex ? { kind: 'not-built' } : { kind: 'not-found', reason: 'no static directory' };
  if (segments.length > 0) {
    const opened = await openInside(root, segments);
    if (typeof opened !== 'string') {
      const type = CONTENT_TYPES[extname(last ?? '').toLowerCase()] ?? 'application/octet-stream';
      return { kind: 'file', found: { ...opened, contentType: type, isIndex: false } };
    }
    if (!wantsIndex) return { kind: 'not-found', reason: opened };
  }
  const index = await openInside(root, ['index.html']);
  if (typeof index === 'string') return { kind: 'not-built' };
  return { kind: 'file', found: { ...index, contentType: CONTENT_TYPES['.html'] ?? 'text/html', isIndex: true } };
}

/** The page at `/` when the renderer is not built (no script, no style: the CSP allows neither inline). */
export const NOT_BUILT_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>LMGW console</title></head>
<body>
<h1>LMGW console</h1>
<p>The operator UI is not built into this installation, so there is nothing to show here.</p>
<p>The operator API is running: see docs/operator-api.md for how scripts use it.</p>
</body>
</html>
`;
