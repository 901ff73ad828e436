/**
 * electron-builder.yml cannot be executed here (no Electron binary to package), so its security-
 * relevant content is read and asserted: the fuses, the native module unpacked from the archive, the
 * entry point the build really produces, and nothing of the agent or the tests in the app.
 *
 * The pinned electron-builder's own loader and schema check read the file too, so an option it does
 * not know (a misspelt fuse, a key in the wrong place) fails here and not only at packaging time.
 *
 * A small reader for the YAML this file uses (maps by indentation, `- item` lists, `[a, b]` lists,
 * quoted and plain scalars, comments) keeps the test free of a YAML dependency; anything it does not
 * understand fails the test rather than being skipped.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
// app-builder-lib is electron-builder's engine, pinned by it to the same version (package.json).
import { getConfig, validateConfiguration } from 'app-builder-lib/out/util/config/config.js';
import { DebugLogger } from 'builder-util';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../helpers/processes.js';

type Yaml = string | boolean | number | Yaml[] | { [key: string]: Yaml };

function scalar(text: string): Yaml {
  const t = text.trim();
  if (/^".*"$|^'.*'$/.test(t)) return t.slice(1, -1);
  if (t === 'true' || t === 'false') return t === 'true';
  if (/^-?\d+(\.\d+)?$/.test(t)) return Number(t);
  if (t.startsWith('[') && t.endsWith(']')) return t.slice(1, -1).split(',').map((s) => scalar(s));
  if (/^[[{&*!|>%@`]/.test(t)) throw new Error(`yaml reader: unsupported value ${t}`);
  return t;
}

function readYaml(text: string): { [key: string]: Yaml } {
  const lines = text
    .split('\n')
    .map((raw) => raw.replace(/\s+#.*$|^\s*#.*$/, ''))
    .filter((l) => l.trim() !== '')
    .map((l) => ({ indent: l.length - l.trimStart().length, text: l.trim() }));
  let i = 0;
  function block(indent: number): Yaml {
    const first = lines[i];
    if (!first) throw new Error('yaml reader: empty block');
    if (first.text.startsWith('- ')) {
      const list: Yaml[] = [];
      while (lines[i] && lines[i]!.indent === indent && lines[i]!.text.startsWith('- ')) {
        const item = lines[i]!.text.slice(2);
        const kv = /^([\w.-]+):\s*(.*)$/.exec(item);
        if (kv) {
          // "- from: docs" followed by more keys of the same item
          lines[i] = { indent: indent + 2, text: item };
          list.push(block(indent + 2));
        } else {
          list.push(scalar(item));
          i++;
        }
      }
      return list;
    }
    const map: { [key: string]: Yaml } = {};
    while (lines[i] && lines[i]!.indent === indent) {
      const m = /^([\w.-]+):\s*(.*)$/.exec(lines[i]!.text);
      if (!m) throw new Error(`yaml reader: cannot read "${lines[i]!.text}"`);
      const [, key = '', rest = ''] = m;
      expect(map, `duplicate key ${key}`).not.toHaveProperty(key);
      i++;
      if (rest !== '') map[key] = scalar(rest);
      else if (lines[i] && lines[i]!.indent > indent) map[key] = block(lines[i]!.indent);
      else if (lines[i] && lines[i]!.indent === indent && lines[i]!.text.startsWith('- ')) map[key] = block(indent);
      else throw new Error(`yaml reader: ${key} has no value`);
    }
    return map;
  }
  const top = block(0);
  if (i !== lines.length) throw new Error(`yaml reader: stopped at "${lines[i]?.text}"`);
  return top as { [key: string]: Yaml };
}

const config = readYaml(readFileSync(join(ROOT, 'electron-builder.yml'), 'utf8'));

describe('electron-builder.yml', () => {
  it('is a configuration the pinned electron-builder loads and accepts, and it refuses a misspelt option', async () => {
    const loaded = await getConfig(ROOT, null, null);
    // electron-builder finds this file and reads it as the reader above does.
    expect(loaded.electronFuses).toEqual(config.electronFuses);
    expect(loaded.asarUnpack).toEqual(config.asarUnpack);
    await expect(validateConfiguration(loaded, new DebugLogger(false))).resolves.toBeUndefined();
    const misspelt = { ...loaded, electronFuses: { ...loaded.electronFuses, runAsnode: false } };
    await expect(validateConfiguration(misspelt, new DebugLogger(false))).rejects.toThrow(/does not match the API schema/);
  });

  it('names the product and the installers: AppImage and deb on Linux, NSIS on Windows', () => {
    expect(config.appId).toBe('ch.lmgw.console');
    expect(config.productName).toBe('LMGW Console');
    expect(config.linux).toMatchObject({ target: ['AppImage', 'deb'] });
    expect(config.win).toMatchObject({ target: ['nsis'] });
  });

  it('flips the fuses: no run-as-node, no NODE_OPTIONS, no --inspect, asar integrity, asar only', () => {
    expect(config.electronFuses).toMatchObject({
      runAsNode: false,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      enableEmbeddedAsarIntegrityValidation: true,
      onlyLoadAppFromAsar: true,
      grantFileProtocolExtraPrivileges: false,
    });
  });

  it('packs into app.asar and unpacks better-sqlite3\'s native module', () => {
    expect(config.asar).toBe(true);
    const unpack = config.asarUnpack as string[];
    expect(unpack.some((p) => p.includes('better-sqlite3') && p.endsWith('*.node'))).toBe(true);
  });

  it('starts the main process the Electron build produces', () => {
    const main = (config.extraMetadata as { main: string }).main;
    expect(main).toBe('dist/console/main/main.js');
    // scripts/build-electron.mjs compiles console/main with tsconfig.electron.json into dist/.
    expect(existsSync(join(ROOT, 'console', 'main', 'main.ts'))).toBe(true);
    const tsconfig = readFileSync(join(ROOT, 'tsconfig.electron.json'), 'utf8');
    expect(tsconfig).toMatch(/"outDir":\s*"dist"/);
    expect(tsconfig).toMatch(/"rootDir":\s*"\."/);
  });

  it('ships the shell, the renderer and the hub, and neither the agent, the benchmarks nor the tests', () => {
    const files = config.files as string[];
    for (const needed of ['package.json', 'dist/console/main/**/*.js', 'dist/console/preload/preload.cjs', 'dist/console/renderer/**/*', 'dist/console/hub/**/*.js', 'dist/shared/**/*.js', 'dist/certs/**/*.js']) {
      expect(files).toContain(needed);
    }
    expect(files.filter((f) => !f.startsWith('!')).some((f) => /^(dist\/\*\*|dist\/(agent|bench|test)|agent|bench|test|e2e)/.test(f))).toBe(false);
    expect(files).toContain('!node_modules/@serialport/**');
  });
});
