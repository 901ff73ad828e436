// Playwright: end-to-end tests in e2e/ against real processes (the demo fleet, the desktop app where
// Electron is present). Browser tests drive Debian's Chromium: the Playwright browser download is not
// possible on the build and CI machines (docs: DESIGN.md, "Environment facts").
import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: 'e2e',
  // An accidental test.only must not silently skip the rest on CI.
  forbidOnly: !!process.env.CI,
  // The specs start whole fleets (hub, agents, simulators): one at a time on a small machine.
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 120_000,
  expect: { timeout: 15_000 },
  // Traces and failure screenshots land here; the UI smoke test also writes test-results/screenshots/.
  outputDir: 'test-results',
  reporter: [['list']],
  use: {
    headless: true,
    viewport: { width: 1280, height: 720 },
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.LMGW_CHROMIUM ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    },
  },
});
