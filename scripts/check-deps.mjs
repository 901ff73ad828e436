#!/usr/bin/env node
// The layering of DESIGN.md as an allow-list per folder (in the spirit of Playwright's DEPS.list).
// Every import in a source file must be allowed by the first rule whose folder contains the file.
// Usage: node scripts/check-deps.mjs [ROOT]   (exit 1 and one line per violation when broken)
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';

/**
 * folder: the rule applies to files under it (longest match wins).
 * may: top-level folders this one may import from (by relative path).
 * node: may import Node built-ins.  packages: npm packages allowed ('*' = any).
 * typeOnly: folders that may be imported with `import type` only.
 */
export const RULES = [
  { folder: 'shared', may: ['shared'], node: false, packages: ['fast-xml-parser', 'zod'] },
  // shared/'s Node layer (VS Code's base/node beside base/common): what every Node process shares.
  { folder: 'shared/node', may: ['shared'], node: true, packages: ['pino', 'prom-client'] },
  { folder: 'certs', may: ['shared', 'certs'], node: true, packages: ['@peculiar/*', 'reflect-metadata'] },
  { folder: 'agent', may: ['shared', 'certs', 'agent'], node: true, packages: '*' },
  { folder: 'console/hub', may: ['shared', 'certs', 'console/hub'], node: true, packages: '*' },
  { folder: 'console/main', may: ['shared', 'console/hub', 'console/main'], node: true, packages: '*' },
  { folder: 'console/preload', may: ['shared', 'console/preload'], node: false, packages: ['electron'] },
  {
    folder: 'console/renderer',
    may: ['shared', 'console/renderer'],
    typeOnly: ['console/hub/operator'],
    node: false,
    packages: ['react', 'react-dom', 'react-dom/*', 'uplot'],
  },
  // The renderer's build config runs under Node (Vite), not in the page.
  { folder: 'console/renderer/vite.config.ts', may: ['console/renderer'], node: true, packages: ['vite', '@vitejs/plugin-react'] },
  { folder: 'test', may: '*', node: true, packages: '*' },
  { folder: 'e2e', may: '*', node: true, packages: '*' },
  { folder: 'bench', may: '*', node: true, packages: '*' },
  { folder: 'scripts', may: '*', node: true, packages: '*' },
];
/** Folders no product code may import (tests and tools may). */
const PRIVATE = ['e2e', 'bench', 'test', 'scripts'];
/** Folders of Node-only code: a folder whose rule has `node: false` may not import them. */
const NODE_ONLY = ['shared/node'];
const SOURCE = /\.(ts|tsx|mts|js|mjs)$/;
const IMPORT = /(?:^|[\s;])(import|export)\s+(type\s+)?(?:[^'"`;]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|require\(\s*['"]([^'"]+)['"]\s*\)/g;
const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

function ruleFor(file) {
  return RULES.filter((r) => file === r.folder || file.startsWith(`${r.folder}/`)).sort(
    (a, b) => b.folder.length - a.folder.length,
  )[0];
}

function under(path, folders) {
  return folders.some((f) => path === f || path.startsWith(`${f}/`));
}

function packageAllowed(spec, packages) {
  if (packages === '*') return true;
  const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
  return packages.some((p) =>
    p.endsWith('/*') ? spec.startsWith(p.slice(0, -1)) || name === p.slice(0, -2) : p === spec || p === name,
  );
}

function* walk(root, dir) {
  for (const entry of readdirSync(dir)) {
    if (entry === 'node_modules' || entry === 'dist' || entry.startsWith('.')) continue;
    const full = join(dir, entry);
    if (statSync(full).isDirectory()) yield* walk(root, full);
    else if (SOURCE.test(entry)) yield relative(root, full).split(sep).join('/');
  }
}

/** Returns one message per forbidden import found under root. */
export function checkDeps(root) {
  const problems = [];
  for (const top of RULES.map((r) => r.folder.split('/')[0])) {
    let exists = false;
    try {
      exists = statSync(join(root, top)).isDirectory();
    } catch {
      /* folder not there yet */
    }
    if (!exists) continue;
    for (const file of walk(root, join(root, top))) {
      const rule = ruleFor(file);
      if (!rule) continue;
      const text = readFileSync(join(root, file), 'utf8');
      for (const m of text.matchAll(IMPORT)) {
        const typeOnly = Boolean(m[2]);
        const spec = m[3] ?? m[4] ?? m[5];
        const line = text.slice(0, m.index + m[0].length).split('\n').length;
        const where = `${file}:${line}`;
        if (spec.startsWith('.')) {
          const target = relative(root, resolve(root, dirname(file), spec)).split(sep).join('/');
          if (target.startsWith('..')) {
            problems.push(`${where}: imports '${spec}', outside the project`);
          } else if (rule.may !== '*' && under(target, PRIVATE)) {
            problems.push(`${where}: imports '${spec}'; nothing may import ${target.split('/')[0]}/`);
          } else if (!rule.node && under(target, NODE_ONLY)) {
            problems.push(`${where}: ${rule.folder}/ may not import ${target} (Node-only code)`);
          } else if (rule.may !== '*' && !under(target, rule.may)) {
            if (!(typeOnly && rule.typeOnly && under(target, rule.typeOnly))) {
              problems.push(`${where}: ${rule.folder}/ may not import ${target} (allowed: ${rule.may.join(', ')})`);
            }
          }
        } else if (BUILTINS.has(spec) || spec.startsWith('node:')) {
          if (!rule.node) problems.push(`${where}: ${rule.folder}/ may not import the Node built-in '${spec}'`);
        } else if (!packageAllowed(spec, rule.packages)) {
          problems.push(`${where}: ${rule.folder}/ may not import the package '${spec}'`);
        }
      }
    }
  }
  return problems;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = resolve(process.argv[2] ?? '.');
  const problems = checkDeps(root);
  for (const p of problems) console.error(p);
  if (problems.length > 0) {
    console.error(`check-deps: ${problems.length} forbidden import(s); see the rules in scripts/check-deps.mjs`);
    process.exit(1);
  }
  console.log('check-deps: layering ok');
}
