// Builds the operator UI into dist/console/renderer/, where the hub serves it in browser mode
// (console/hub/hub.ts, defaultUiDir) and the desktop app loads it.
//
// The API answers every page with a strict CSP (script-src 'self'; style-src 'self'; no inline
// anything), so the build must emit only external .js and .css files: no inlined assets (data: URIs
// for fonts would be refused), no module-preload polyfill snippet.
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  base: './',
  plugins: [react()],
  publicDir: 'public',
  build: {
    outDir: fileURLToPath(new URL('../../dist/console/renderer/', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: true,
    reportCompressedSize: false,
    chunkSizeWarningLimit: 1024,
  },
  server: { strictPort: true },
});
