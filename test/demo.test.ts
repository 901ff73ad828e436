import { expect, it } from 'vitest';
import { ROOT, run, tempDir } from './helpers/processes.js';

// `npm start` is the README's first command: its scenario must run on a fresh clone. The console is
// the real `lm-console --headless` process; the shed goes through its operator API.
it('the demo fleet connects five sites (one through tinyproxy), sheds their priority-1 loads through the operator API and reads the relays back', async () => {
  const tmp = tempDir('lmgw-demo-');
  const r = await run(process.execPath, ['scripts/demo.mjs', '--once'], { cwd: ROOT, env: { LMGW_DEMO_DIR: tmp.dir } });
  tmp.cleanup();
  expect(r.code, r.stdout + r.stderr).toBe(0);
  expect(r.stdout.match(/ connected \(/g)).toHaveLength(5);
  expect(r.stdout).toMatch(/tinyproxy on http:\/\/127\.0\.0\.1:\d+ \(the customer proxy of dairy-farm-7\)/);
  expect(r.stdout).toMatch(/dairy-farm-7 connected \(Dairy farm 7\) through an HTTP proxy: /);
  // The shed goes through the operator API; each gateway confirms with its relays read back off.
  expect(r.stdout).toMatch(/OPERATOR CONSOLE {2}http:\/\/127\.0\.0\.1:\d+\/login\?token=[\w-]{43}\n/);
  expect(r.stdout.match(/shed c[\w-]+ on [\w-]+ channels \[[\d, ]+\] \(~[\d.]+ kW\): confirmed; read-back off: \[\d/g)).toHaveLength(5);
  expect(r.stdout).toMatch(/^.*fleet \d+\.\d kW \(quarter-hour projected \d+\.\d kW\) \| bakery-muller/m);
});
