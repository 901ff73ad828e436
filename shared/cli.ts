import { LmgwError } from './errors.js';
import { LMGW_VERSION } from './version.js';

/** What `--version` prints on every LMGW command: the program and the package version, e.g. `lm-console 0.1.0`. */
export function versionLine(program: string): string {
  return `${program} ${LMGW_VERSION}`;
}

/**
 * The one-line error every LMGW command prints, and its exit status: `PROGRAM: CODE: message` with
 * the registry code (exit 2 for usage, 1 otherwise); a system error (a port in use, a device that
 * vanished) is named by its errno code; anything else is an internal error, never a stack trace.
 */
export function formatCliError(program: string, err: unknown): { line: string; exitCode: number } {
  const oneLine = (text: string): string => text.replace(/\s*\n\s*/g, ' ');
  if (err instanceof LmgwError) {
    return { line: `${program}: ${err.code}: ${oneLine(err.message)}`, exitCode: err.code === 'CLI_USAGE' ? 2 : 1 };
  }
  const message = err instanceof Error ? err.message : String(err);
  const errno = (err as { code?: unknown } | undefined)?.code;
  if (typeof errno === 'string' && /^E[A-Z]+$/.test(errno)) return { line: `${program}: ${errno}: ${oneLine(message)}`, exitCode: 1 };
  return { line: `${program}: internal error: ${message.split('\n')[0] ?? ''}`, exitCode: 1 };
}
