/**
 * The desktop settings file: the hub config's schema and messages, paths relative to the user-data
 * directory, the first-start example, and the operator identity taken from the OS user.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeSettings, desktopOperator, loadSettings, SETTINGS_EXAMPLE, writeSettingsExample } from '../../../console/main/settings.js';
import { tempDir } from '../../helpers/processes.js';

describe('loadSettings', () => {
  const tmp = tempDir('lmgw-settings-');
  afterAll(() => tmp.cleanup());
  const file = (name: string, value: unknown): string => {
    const path = join(tmp.dir, name);
    writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value));
    return path;
  };

  it('says missing when there is no file yet', () => {
    expect(loadSettings(join(tmp.dir, 'absent.json'))).toEqual({ kind: 'missing', path: join(tmp.dir, 'absent.json') });
  });

  it('reads the hub config format, with paths relative to the user-data directory', () => {
    const path = file('ok.json', { listen: { port: 9443 }, tls: { ca: 'tls/ca.pem', cert: 'tls/s.pem', key: 'tls/s.key', crl: '/srv/pki/crl.pem' }, timeZone: 'Europe/Zurich', ca: { dir: 'pki' } });
    const s = loadSettings(path);
    expect(s.kind).toBe('ok');
    if (s.kind !== 'ok') return;
    expect(s.config.listen).toEqual({ host: '0.0.0.0', port: 9443 });
    expect(s.config.tls).toEqual({ ca: join(tmp.dir, 'tls/ca.pem'), cert: join(tmp.dir, 'tls/s.pem'), key: join(tmp.dir, 'tls/s.key'), crl: '/srv/pki/crl.pem' });
    expect(s.config.dataDir).toBe(join(tmp.dir, 'data'));
    expect(s.config.ca?.dir).toBe(join(tmp.dir, 'pki'));
    expect(describeSettings(s.config)).toContain('Link: 0.0.0.0:9443');
    expect(describeSettings(s.config)).toContain('Time zone: Europe/Zurich');
  });

  const TLS = { ca: 'a', cert: 'b', key: 'c', crl: 'd' };
  it.each([
    ['a port out of range', { tls: TLS, listen: { port: 70000 } }, /listen\.port/],
    ['no TLS files', {}, /tls/],
    ['a time zone that is not one', { tls: TLS, timeZone: 'Mars/Olympus' }, /timeZone: is not an IANA time zone/],
    ['an unknown field (a typo)', { tls: TLS, listne: { port: 8443 } }, /listne/],
  ])('names the field of %s', (_what, settings, message) => {
    const s = loadSettings(file('bad.json', settings));
    expect(s).toMatchObject({ kind: 'invalid', code: 'CONFIG_INVALID' });
    if (s.kind === 'invalid') expect(s.message).toMatch(message);
  });

  it('says so when the file is not JSON', () => {
    expect(loadSettings(file('broken.json', '{ "listen": '))).toMatchObject({ kind: 'invalid', code: 'CONFIG_INVALID', message: expect.stringContaining('not valid JSON') });
  });

  it('writes an example that is itself valid settings, and never overwrites it', () => {
    const path = writeSettingsExample(tmp.dir);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(SETTINGS_EXAMPLE);
    expect(loadSettings(path).kind).toBe('ok');
    writeFileSync(path, '{"edited": true}');
    writeSettingsExample(tmp.dir);
    expect(readFileSync(path, 'utf8')).toBe('{"edited": true}');
  });
});

describe('desktopOperator', () => {
  it('is the OS user', () => {
    expect(desktopOperator(() => ({ username: 'alice' }))).toBe('alice');
  });

  it('falls back to USER or USERNAME when the account has no passwd entry', () => {
    const noEntry = (): { username: string } => {
      throw new Error('ENOENT');
    };
    expect(desktopOperator(noEntry, { USER: 'bob' })).toBe('bob');
    expect(desktopOperator(noEntry, { USERNAME: 'carol' })).toBe('carol');
    expect(desktopOperator(noEntry, {})).toBe('unknown-os-user');
  });

  it('cannot forge an audit line or read backwards', () => {
    expect(desktopOperator(() => ({ username: 'eve\nconfirmed by admin' }))).toBe('eveconfirmed by admin');
    expect(desktopOperator(() => ({ username: 'mallory\u202Enimda' }))).toBe('mallorynimda');
  });
});
