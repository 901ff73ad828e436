/**
 * The operator UI's entry: picks the carrier (the desktop bridge or the browser-mode API), starts the
 * fleet store — its snapshot requests leave now — and only then loads React and the views (a second
 * chunk, app/mount.tsx). At 20,000 gateways the fleet snapshot is megabytes the hub takes a moment
 * to build; asking for it before the UI's code is parsed lets the two overlap.
 */
import 'uplot/dist/uPlot.min.css';
import './styles/app.css';
import { OperatorClient } from './api/operator-client.js';
import { defaultTransport } from './api/transport.js';
import { applyTheme, initialTheme } from './app/theme.js';
import { Announcer } from './state/announcer.js';
import { FleetStore } from './state/fleet-store.js';

applyTheme(initialTheme());
const client = new OperatorClient(defaultTransport());
const store = new FleetStore(client);
const announcer = new Announcer();
store.start();

const root = document.getElementById('root');
if (root === null) throw new Error('index.html has no #root');
const { mount } = await import('./app/mount.js');
mount(root, { client, store, announcer });
