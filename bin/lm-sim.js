#!/usr/bin/env node
// Declared now so `npx lm-sim` resolves in a clone; the command itself lands with its own issue.
process.stderr.write('lm-sim: not part of this build yet; see README.md (Status) for what is available\n');
process.exitCode = 1;
