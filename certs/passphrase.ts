import { LmgwError } from '../shared/errors.js';

export const PASSPHRASE_ENV = 'LMGW_CA_PASSPHRASE';

/**
 * The CA passphrase: from LMGW_CA_PASSPHRASE, else asked on the terminal without echo (twice when
 * creating a CA). Never from an argument: arguments show in `ps` and in shell history.
 */
export async function obtainPassphrase(opts: { confirm: boolean }): Promise<string> {
  const fromEnv = process.env[PASSPHRASE_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    throw new LmgwError('CA_NO_PASSPHRASE', `no CA passphrase: set ${PASSPHRASE_ENV} or run on a terminal`);
  }
  const first = await promptHidden('CA passphrase: ');
  if (opts.confirm) {
    const again = await promptHidden('CA passphrase (again): ');
    if (again !== first) throw new LmgwError('CA_NO_PASSPHRASE', 'the two passphrases differ');
  }
  return first;
}

function promptHidden(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(question);
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    let value = '';
    const done = (err?: Error): void => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.removeListener('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new LmgwError('CA_NO_PASSPHRASE', 'cancelled'));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on('data', onData);
  });
}
