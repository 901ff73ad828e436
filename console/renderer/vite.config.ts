// Builds the operator UI into dist/console/renderer/, where the hub serves it in browser mode
// (console/hub/hub.ts, defaultUiDir) and the desktop app loads it.
//
// The API answers every page with a strict CSP (script-src 'self'; style-src 'self'; no inline
// anything), so the build must emit only external .js and .css files: no inlined assets (data: URIs
// for fonts would be refused), no module-preload polyfill snippet.
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig, type Plugin } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

/**
 * The entry (main.tsx) asks the hub for the fleet before it imports the app's chunk (app/mount.tsx).
 * Without a preload link the browser requests that chunk only then — behind the fleet snapshot, which
 * at 20,000 gateways holds the hub's loop for a second; listed in the page it loads beside the entry.
 */
function preloadAppChunk(): Plugin {
  return {
    name: 'lmgw-preload-app-chunk',
    transformIndexHtml: {
      order: 'post',
      handler(html, ctx) {
        const chunk = Object.values(ctx.bundle ?? {}).find((c) => c.type === 'chunk' && c.name === 'mount');
        if (chunk === undefined) return html;
        return html.replace('</head>', `  <link rel="modulepreload" crossorigin href="./${chunk.fileName}">\n  </head>`);
      },
    },
  };
}

export default defineConfig({
  root: here,
  base: './',
  plugins: [react(), preloadAppChunk()],
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
