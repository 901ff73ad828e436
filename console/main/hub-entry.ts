/**
 * The entry of the hub's utilityProcess (hub-process.ts forks the built file, dist/console/main/
 * hub-entry.js). Everything it does is in hub-host.ts; this file only plugs in Electron's
 * process.parentPort, which exists only in a utility process.
 */
import type { ParentPort } from 'electron';
import { runHubHost } from './hub-host.js';

const port: ParentPort | null | undefined = process.parentPort;
if (!port) {
  process.stderr.write('hub-entry: this is the hub process of the desktop console; run `lm-console --headless` for a hub of its own\n');
  process.exit(2);
}

runHubHost({
  send: (message) => port.postMessage(message),
  onMessage: (listener) => port.on('message', (event) => listener(event.data)),
  exit: (code) => process.exit(code),
});
