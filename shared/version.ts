/**
 * The LMGW version (package.json's; test/shared/cli.test.ts keeps them equal): what every command's
 * `--version` prints, what the agent sends in hello and what the hub's `info` answers.
 */
export const LMGW_VERSION = '0.1.0';
