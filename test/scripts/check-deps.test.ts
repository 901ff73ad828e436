import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error -- a plain .mjs script without declarations; its API is two functions.
import { checkDeps } from '../../scripts/check-deps.mjs';
import { ROOT, tempDir } from '../helpers/processes.js';

const check = checkDeps as (root: string) => string[];
const tmp = tempDir();
afterAll(() => tmp.cleanup());

function tree(files: Record<string, string>): string {
  const root = join(tmp.dir, String(Math.random()).slice(2));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe('the layering rules of DESIGN.md (npm run check:deps)', () => {
  it('the project itself respects them', () => {
    expect(check(ROOT)).toEqual([]);
  });

  it('catches each kind of forbidden import, with file and line', () => {
    const root = tree({
      'shared/a.ts': "import { readFileSync } from 'node:fs';\nimport x from 'fs';\n",
      'shared/b.ts': "import { y } from '../agent/y.js';\nimport React from 'react';\n",
      'shared/ok.ts': "import { XMLParser } from 'fast-xml-parser';\nimport { z } from './c.js';\n",
      'agent/a.ts': "export { hub } from '../console/hub/hub.js';\n",
      'console/hub/h.ts': "const m = await import('../../agent/run.js');\n",
      'console/renderer/r.ts': "import { ipcRenderer } from 'electron';\nimport path from 'node:path';\nimport { svc } from '../hub/operator/service.js';\nimport type { Api } from '../hub/operator/api.js';\n",
      'certs/c.ts': "import { t } from '../e2e/fixtures.js';\n",
      'shared/node/log.ts': "import { pino } from 'pino';\nimport { hostname } from 'node:os';\nimport { LmgwError } from '../errors.js';\n",
      'shared/uses-log.ts': "import { createLogger } from './node/log.js';\n",
      'console/renderer/log.ts': "import { createLogger } from '../../shared/node/log.js';\n",
      'agent/log.ts': "import { createLogger } from '../shared/node/log.js';\n",
    });
    const problems = check(root).join('\n');
    expect(problems).toContain("shared/a.ts:1: shared/ may not import the Node built-in 'node:fs'");
    expect(problems).toContain("shared/a.ts:2: shared/ may not import the Node built-in 'fs'");
    expect(problems).toContain('shared/b.ts:1: shared/ may not import agent/y.js');
    expect(problems).toContain("shared/b.ts:2: shared/ may not import the package 'react'");
    expect(problems).toContain('agent/a.ts:1: agent/ may not import console/hub/hub.js');
    expect(problems).toContain('console/hub/h.ts:1: console/hub/ may not import agent/run.js');
    expect(problems).toContain("console/renderer/r.ts:1: console/renderer/ may not import the package 'electron'");
    expect(problems).toContain("console/renderer/r.ts:2: console/renderer/ may not import the Node built-in 'node:path'");
    expect(problems).toContain('console/renderer/r.ts:3: console/renderer/ may not import console/hub/operator/service.js');
    expect(problems).not.toContain('console/renderer/r.ts:4');
    expect(problems).toContain("certs/c.ts:1: imports '../e2e/fixtures.js'; nothing may import e2e/");
    expect(problems).not.toContain('shared/ok.ts');
    // shared/node/ is Node code shared by the Node processes: Node and pino there, never in the browser.
    expect(problems).not.toContain('shared/node/log.ts');
    expect(problems).toContain('shared/uses-log.ts:1: shared/ may not import shared/node/log.js (Node-only code)');
    expect(problems).toContain('console/renderer/log.ts:1: console/renderer/ may not import shared/node/log.js (Node-only code)');
    expect(problems).not.toContain('agent/log.ts');
  });
});
