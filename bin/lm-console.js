#!/usr/bin/env node
// Declared now so `npx lm-console` resolves in a clone; the command itself lands with its own issue.
process.stderr.write('lm-console: not part of this build yet; see README.md (Status) for what is available\n');
process.exitCode = 1;
