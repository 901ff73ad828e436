import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { LmgwError } from '../shared/errors.js';
import { formatCliError, versionLine } from '../shared/cli.js';
import { CertificateAuthority, initCa, listCertificates, writeExclusive } from './ca.js';
import { isRevocationReason, REVOCATION_REASONS } from './ca-db.js';
import { writeFileAtomic } from './atomic-file.js';
import { x509 } from './x509.js';
import { createOcspResponder } from './ocsp-responder.js';
import { obtainPassphrase, PASSPHRASE_ENV } from './passphrase.js';

const HELP = `lmgw-ca — the LMGW private certificate authority

Usage: lmgw-ca <command> --pki DIR [options]
       lmgw-ca --help | --version

Commands:
  init          --pki DIR [--name "LMGW Root CA"]
                Create the CA: ECDSA P-256 root (key encrypted at rest), database, first CRL.
  issue-server  --pki DIR --dns NAME... [--ip ADDR...] --out DIR [--days N]
                Key + certificate for the console (serverAuth). Writes server.key, server.pem, ca.pem.
  issue-gateway --pki DIR --id GATEWAY_ID --out DIR [--days N] [--renew]
                Key + certificate for a gateway (clientAuth, CN and URI urn:lmgw:gateway:<id>).
                Writes gateway.key, gateway.pem, ca.pem. Prefer enroll + sign: the key then never moves.
  sign          --pki DIR --csr FILE --out FILE [--days N] [--renew]
                Sign a gateway's own CSR (from \`lmgw-agent enroll\`).
  revoke        --pki DIR (--id GATEWAY_ID | --serial HEX) [--reason REASON]
                Revoke and write a fresh CRL at once. REASON: ${REVOCATION_REASONS.join(', ')}.
  crl           --pki DIR [--out FILE] [--days N]
                Write a fresh CRL (default valid 7 days) to DIR/crl.pem, and to FILE if given.
  list          --pki DIR [--json]
                Every certificate: kind, id, serial, status, not-after.
  ocsp          --pki DIR --port N [--host 127.0.0.1]
                Run an OCSP responder (HTTP) until stopped.
  staple        --pki DIR (--cert FILE | --serial HEX) --out FILE [--hours N]
                Sign an OCSP response (DER) for the console's certificate, valid N hours (default 24),
                for the console to staple (its config: tls.ocspStaple). Refresh it from cron.

The CA passphrase comes from ${PASSPHRASE_ENV} or, on a terminal, a prompt; never from an argument.
--renew supersedes (revokes with reason superseded) the gateway's current certificate.
Exit status: 0 done, 1 refused or failed (one line on stderr with the error code), 2 bad usage.
`;

const COMMON = { pki: { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const;
const OPTIONS = {
  init: { ...COMMON, name: { type: 'string' } },
  'issue-server': { ...COMMON, dns: { type: 'string', multiple: true }, ip: { type: 'string', multiple: true }, out: { type: 'string' }, days: { type: 'string' } },
  'issue-gateway': { ...COMMON, id: { type: 'string' }, out: { type: 'string' }, days: { type: 'string' }, renew: { type: 'boolean' } },
  sign: { ...COMMON, csr: { type: 'string' }, out: { type: 'string' }, days: { type: 'string' }, renew: { type: 'boolean' } },
  revoke: { ...COMMON, id: { type: 'string' }, serial: { type: 'string' }, reason: { type: 'string' } },
  crl: { ...COMMON, out: { type: 'string' }, days: { type: 'string' } },
  list: { ...COMMON, json: { type: 'boolean' } },
  ocsp: { ...COMMON, port: { type: 'string' }, host: { type: 'string' } },
  staple: { ...COMMON, cert: { type: 'string' }, serial: { type: 'string' }, out: { type: 'string' }, hours: { type: 'string' } },
} as const satisfies Record<string, ParseArgsConfig['options']>;

type Command = keyof typeof OPTIONS;

function usage(message: string): never {
  throw new LmgwError('CLI_USAGE', `${message} (see lmgw-ca --help)`);
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') usage(`${flag} is required`);
  return value;
}

function days(value: string | undefined, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) usage(`--days must be a whole number from 1 to ${max}, not "${value}"`);
  return Number(value);
}

async function openCa(pki: string): Promise<CertificateAuthority> {
  // Check the directory before asking for a passphrase nobody needs.
  if (!existsSync(join(pki, 'db.json')) && !existsSync(join(pki, 'ca.pem'))) {
    throw new LmgwError('CA_NOT_INITIALISED', `${pki} holds no CA (run \`lmgw-ca init --pki ${pki}\`)`);
  }
  return CertificateAuthority.open(pki, await obtainPassphrase({ confirm: false }));
}

/** Fails before anything is issued when an output file is already there. */
function prepareOut(dir: string, names: readonly string[]): void {
  for (const name of names) {
    if (existsSync(join(dir, name))) throw new LmgwError('CA_OUT_EXISTS', `${join(dir, name)} already exists; LMGW never overwrites a key or certificate`);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

function writeBundle(dir: string, base: string, issued: { certPem: string; keyPem?: string }, caPem: string): string[] {
  const written: string[] = [];
  if (issued.keyPem !== undefined) {
    writeExclusive(join(dir, `${base}.key`), issued.keyPem, 0o600);
    written.push(join(dir, `${base}.key`));
  }
  writeExclusive(join(dir, `${base}.pem`), issued.certPem, 0o644);
  written.push(join(dir, `${base}.pem`));
  writeExclusive(join(dir, 'ca.pem'), caPem, 0o644);
  written.push(join(dir, 'ca.pem'));
  return written;
}

export async function main(argv: readonly string[], out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    out(HELP.trimEnd());
    return;
  }
  if (command === '--version') {
    out(versionLine('lmgw-ca'));
    return;
  }
  if (!Object.hasOwn(OPTIONS, command)) usage(`unknown command "${command}"`);
  const cmd = command as Command;
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args: [...rest], options: OPTIONS[cmd], strict: true, allowPositionals: false }));
  } catch (err) {
    usage((err as Error).message.split('\n')[0] ?? 'bad arguments');
  }
  if (values.help) {
    out(HELP.trimEnd());
    return;
  }
  const str = (k: string): string | undefined => values[k] as string | undefined;
  const list = (k: string): string[] => (values[k] as string[] | undefined) ?? [];
  const pki = resolve(required(str('pki'), '--pki'));

  switch (cmd) {
    case 'init': {
      if (existsSync(join(pki, 'db.json')) || existsSync(join(pki, 'ca.pem'))) {
        throw new LmgwError('CA_ALREADY_INITIALISED', `${pki} already holds a CA; refusing to overwrite it`);
      }
      const record = await initCa(pki, await obtainPassphrase({ confirm: true }), str('name'));
      out(`CA created in ${pki}: ${record.subject}, serial ${record.serial}, valid until ${record.notAfter}`);
      out(`Trust anchor for the console and the gateways: ${join(pki, 'ca.pem')}; CRL: ${join(pki, 'crl.pem')}`);
      return;
    }
    case 'issue-server': {
      const dns = list('dns');
      const ip = list('ip');
      if (dns.length === 0 && ip.length === 0) usage('--dns NAME (or --ip ADDR) is required');
      const outDir = resolve(required(str('out'), '--out'));
      const d = days(str('days'), 825);
      const ca = await openCa(pki);
      prepareOut(outDir, ['server.key', 'server.pem', 'ca.pem']);
      const issued = await ca.issueServer({ dnsNames: dns, ipAddresses: ip, ...(d === undefined ? {} : { days: d }) });
      const files = writeBundle(outDir, 'server', issued, ca.certificatePem);
      out(`server certificate ${issued.record.serial} for ${issued.record.sans.join(', ')}, valid until ${issued.record.notAfter}`);
      out(`wrote ${files.join(', ')}`);
      return;
    }
    case 'issue-gateway': {
      const id = required(str('id'), '--id');
      const outDir = resolve(required(str('out'), '--out'));
      const d = days(str('days'), 3650);
      const ca = await openCa(pki);
      prepareOut(outDir, ['gateway.key', 'gateway.pem', 'ca.pem']);
      const issued = await ca.issueGateway({ id, renew: values.renew === true, ...(d === undefined ? {} : { days: d }) });
      const files = writeBundle(outDir, 'gateway', issued, ca.certificatePem);
      out(`gateway certificate ${issued.record.serial} for "${id}", valid until ${issued.record.notAfter}`);
      out(`wrote ${files.join(', ')}`);
      return;
    }
    case 'sign': {
      const csrPath = required(str('csr'), '--csr');
      const outFile = resolve(required(str('out'), '--out'));
      const d = days(str('days'), 3650);
      let csr: string;
      try {
        csr = readFileSync(csrPath, 'utf8');
      } catch (err) {
        throw new LmgwError('CA_IO', `cannot read the CSR ${csrPath}: ${(err as Error).message}`);
      }
      const ca = await openCa(pki);
      if (existsSync(outFile)) throw new LmgwError('CA_OUT_EXISTS', `${outFile} already exists; LMGW never overwrites a certificate`);
      const issued = await ca.signGatewayCsr(csr, { renew: values.renew === true, ...(d === undefined ? {} : { days: d }) });
      writeExclusive(outFile, issued.certPem, 0o644);
      out(`gateway certificate ${issued.record.serial} for "${issued.record.id ?? ''}", valid until ${issued.record.notAfter}`);
      out(`wrote ${outFile}`);
      return;
    }
    case 'revoke': {
      const id = str('id');
      const serial = str('serial');
      if ((id === undefined) === (serial === undefined)) usage('give exactly one of --id GATEWAY_ID or --serial HEX');
      if (serial !== undefined && !/^[0-9a-fA-F:]{2,60}$/.test(serial)) usage(`--serial must be hexadecimal, not "${serial}"`);
      const reason = str('reason') ?? 'unspecified';
      if (!isRevocationReason(reason)) throw new LmgwError('CA_BAD_REASON', `unknown reason "${reason}"; use one of ${REVOCATION_REASONS.join(', ')}`);
      const ca = await openCa(pki);
      const record = await ca.revoke(id !== undefined ? { id } : { serial: serial ?? '' }, reason);
      out(`revoked ${record.serial} (${record.id ?? record.subject}), reason ${reason}; CRL written to ${ca.paths.crl}`);
      return;
    }
    case 'crl': {
      const d = days(str('days'), 366);
      const ca = await openCa(pki);
      const pem = await ca.writeCrl(d);
      const outFile = str('out');
      if (outFile !== undefined) writeFileAtomic(resolve(outFile), pem);
      out(`CRL written to ${ca.paths.crl}${outFile !== undefined ? ` and ${resolve(outFile)}` : ''}`);
      return;
    }
    case 'list': {
      const certs = listCertificates(pki);
      if (values.json) {
        out(JSON.stringify(certs.map((c) => ({ kind: c.kind, id: c.id, subject: c.subject, serial: c.serial, status: c.status, notAfter: c.notAfter, ...(c.revokedAt ? { revokedAt: c.revokedAt, reason: c.reason } : {}) })), null, 2));
        return;
      }
      const rows = certs.map((c) => [c.kind, c.id ?? c.subject.replace(/^CN=/, ''), c.serial, c.status + (c.reason ? ` (${c.reason})` : ''), c.notAfter]);
      const header = ['KIND', 'ID / NAME', 'SERIAL', 'STATUS', 'NOT AFTER'];
      const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
      for (const row of [header, ...rows]) out(row.map((cell, i) => (cell ?? '').padEnd(widths[i] ?? 0)).join('  ').trimEnd());
      return;
    }
    case 'staple': {
      const certFile = str('cert');
      const serialArg = str('serial');
      if ((certFile === undefined) === (serialArg === undefined)) usage('give exactly one of --cert FILE or --serial HEX');
      const outFile = resolve(required(str('out'), '--out'));
      const hoursArg = str('hours') ?? '24';
      if (!/^\d+$/.test(hoursArg) || Number(hoursArg) < 1 || Number(hoursArg) > 168) usage(`--hours must be a whole number from 1 to 168, not "${hoursArg}"`);
      let serial = serialArg ?? '';
      if (certFile !== undefined) {
        try {
          serial = new x509.X509Certificate(readFileSync(certFile, 'utf8')).serialNumber;
        } catch (err) {
          throw new LmgwError('CA_IO', `cannot read the certificate ${certFile}: ${(err as Error).message.split('\n')[0] ?? ''}`);
        }
      }
      const ca = await openCa(pki);
      const der = ca.stapledOcspResponse(serial, new Date(), Number(hoursArg) * 3_600_000);
      writeFileAtomic(outFile, der);
      out(`OCSP response for serial ${serial.toLowerCase()} (valid ${hoursArg} h) written to ${outFile}`);
      return;
    }
    case 'ocsp': {
      const port = Number(required(str('port'), '--port'));
      if (!Number.isInteger(port) || port < 0 || port > 65535) usage(`--port must be 0–65535, not "${str('port')}"`);
      const host = str('host') ?? '127.0.0.1';
      const ca = await openCa(pki);
      const server = createOcspResponder(ca.ocspSigner(), ca.paths.db);
      await new Promise<void>((resolveListen, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolveListen());
      });
      const address = server.address();
      out(`OCSP responder for ${ca.certificate.subject} on http://${host}:${typeof address === 'object' && address ? address.port : port}/`);
      const stop = (): void => void server.close();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      return;
    }
  }
}

/** The `lmgw-ca` entry point (bin/lmgw-ca.js). */
export function run(argv: readonly string[] = process.argv.slice(2)): void {
  main(argv).catch((err: unknown) => {
    const { line, exitCode } = formatCliError('lmgw-ca', err);
    process.stderr.write(`${line}\n`);
    process.exitCode = exitCode;
  });
}
