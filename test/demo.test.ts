import { expect, it } from 'vitest';
import { ROOT, run } from './helpers/processes.js';

// `npm start` is the README's first command: its scenario must run on a fresh clone.
it('the demo fleet connects three sites, sheds their priority-1 loads and reads the relays back', async () => {
  const r = await run(process.execPath, ['scripts/demo.mjs', '--once'], { cwd: ROOT });
  expect(r.code, r.stdout + r.stderr).toBe(0);
  expect(r.stdout.match(/ connected \(/g)).toHaveLength(3);
  expect(r.stdout.match(/result demo-shed-\d from [\w-]+: ok; read-back off: \[\d/g)).toHaveLength(3);
  expect(r.stdout).toMatch(/^.*fleet \d+\.\d kW \| bakery-muller/m);
});
