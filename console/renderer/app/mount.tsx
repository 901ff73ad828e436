/**
 * Renders the app into the page: React and every view, in their own chunk (main.tsx loads it once
 * the store's first requests are on their way).
 */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { AppProvider, type AppServices } from '../state/context.js';
import { App } from './app.js';

export function mount(root: HTMLElement, services: AppServices): void {
  createRoot(root).render(
    <StrictMode>
      <AppProvider services={services}>
        <App />
      </AppProvider>
    </StrictMode>,
  );
}
