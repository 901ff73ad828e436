/**
 * The operator API's bearer token: 32 random bytes, made at every start, stored where only the hub's
 * OS user can read it, compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** 256 bits from the CSPRNG, base64url (43 characters, safe in a URL, a header and a cookie). */
export function createToken(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * True when `presented` is the token. Both sides are hashed first, so the comparison takes the same
 * time whatever the presented value's length or content.
 */
export function tokenMatches(presented: string, token: string): boolean {
  const a = createHash('sha256').update(presented, 'utf8').digest();
  const b = createHash('sha256').update(token, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/**
 * Writes the token atomically: a new file (mode 0600, O_EXCL) beside the target, fsync, rename over
 * the target, fsync of the directory. A reader sees the old token or the new one, never a partial
 * one, and never a file others can read. The directory is created with mode 0700 when missing.
 */
export function writeTokenFile(path: string, token: string): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeSync(fd, token);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(temp, path);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
  try {
    const dirFd = openSync(dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } catch {
    // Directory fsync is not possible everywhere (some file systems); the rename is still atomic.
  }
}

/** Removes the token file if it still holds this token (another hub may have replaced it since). */
export function removeTokenFile(path: string, token: string): void {
  try {
    if (tokenMatches(readFileSync(path, 'utf8'), token)) rmSync(path, { force: true });
  } catch {
    // Already gone or unreadable: nothing of ours to remove.
  }
}
