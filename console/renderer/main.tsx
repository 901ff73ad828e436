/**
 * The operator UI's entry: picks the carrier (the desktop bridge or the browser-mode API), starts the
 * fleet store and renders the app.
 */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import 'uplot/dist/uPlot.min.css';
import './styles/app.css';
import { OperatorClient } from './api/operator-client.js';
import { defaultTransport } from './api/transport.js';
import { App } from './app/app.js';
import { applyTheme, initialTheme } from './app/theme.js';
import { Announcer } from './state/announcer.js';
import { AppProvider } from './state/context.js';
import { FleetStore } from './state/fleet-store.js';

applyTheme(initialTheme());
const client = new OperatorClient(defaultTransport());
const store = new FleetStore(client);
const announcer = new Announcer();
store.start();

const root = document.getElementById('root');
if (root === null) throw new Error('index.html has no #root');
createRoot(root).render(
  <StrictMode>
    <AppProvider services={{ client, store, announcer }}>
      <App />
    </AppProvider>
  </StrictMode>,
);
