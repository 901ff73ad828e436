import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultDataDir, loadHubConfig, SYSTEM_DATA_DIR } from '../../../console/hub/config.js';
import { tempDir } from '../../helpers/processes.js';

const tls = { ca: 'ca.pem', cert: 'server.pem', key: 'server.key', crl: 'crl.pem' };

describe('the hub data directory', () => {
  const tmp = tempDir('lmgw-hub-config-');
  afterAll(() => tmp.cleanup());
  const configFile = (name: string, body: Record<string, unknown>): string => {
    const file = join(tmp.dir, name);
    writeFileSync(file, JSON.stringify({ tls, ...body }));
    return file;
  };

  it('is the one the config names, relative to the config file, whatever systemd says', () => {
    const file = configFile('named.json', { dataDir: 'hub-data' });
    expect(loadHubConfig(file, {}).dataDir).toBe(join(tmp.dir, 'hub-data'));
    expect(loadHubConfig(file, { STATE_DIRECTORY: '/var/lib/lmgw-console' }).dataDir).toBe(join(tmp.dir, 'hub-data'));
  });

  it('is the service state directory when the config names none and systemd gives one (the first of several)', () => {
    const file = configFile('unnamed.json', {});
    expect(loadHubConfig(file, { STATE_DIRECTORY: '/var/lib/lmgw-console' }).dataDir).toBe('/var/lib/lmgw-console');
    expect(loadHubConfig(file, { STATE_DIRECTORY: '/var/lib/a:/var/lib/b' }).dataDir).toBe('/var/lib/a');
  });

  it('is /var/lib/lmgw-console for a config under /etc, never a folder under /etc', () => {
    expect(SYSTEM_DATA_DIR).toBe('/var/lib/lmgw-console');
    expect(defaultDataDir('/etc/lmgw-console/hub.json', {})).toBe('/var/lib/lmgw-console');
  });

  it('is data beside the config anywhere else (the demo, a copy in a home directory)', () => {
    const file = configFile('elsewhere.json', {});
    expect(loadHubConfig(file, {}).dataDir).toBe(join(tmp.dir, 'data'));
    expect(defaultDataDir('/home/op/lmgw/hub.json', {})).toBe('/home/op/lmgw/data');
  });
});
