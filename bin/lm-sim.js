#!/usr/bin/env node
// The sources are TypeScript; `npm ci` (via the prepare script) or `npm run build` compiles them to dist/.
import { run } from '../dist/agent/sim/cli.js';

run();
