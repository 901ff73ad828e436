/** The agent's version, sent in hello (kept equal to package.json's by test/agent/cli.test.ts). */
export const AGENT_VERSION = '0.1.0';
