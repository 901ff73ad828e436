/**
 * Fault injection for `lm-sim`: the ways a real load manager or its line misbehaves.
 *
 *   slow=MS         every reply waits MS milliseconds (0..60000)
 *   exception=CODE  every request is answered with Modbus exception CODE (1..255)
 *   drop=RATE       each request, with probability RATE (0..1), drops the TCP connection instead of
 *                   answering (RTU: no answer); drawn from the seeded generator
 *   silence         requests are read and never answered (a dead device behind a live socket)
 *   truncate        replies lose their last byte (TCP: the MBAP length matches the short PDU, so a
 *                   client sees a well-framed reply with a wrong length; RTU: a frame cut short)
 *   none            clears every fault (only useful in a control file)
 *
 * Specs combine: `--fault slow=300 --fault drop=0.1`, or in a control file, one per line or
 * separated by spaces or commas.
 */
import { LmgwError } from '../../shared/errors.js';

export interface Faults {
  slowMs: number;
  exception: number | undefined;
  dropRate: number;
  silence: boolean;
  truncate: boolean;
}

export function noFaults(): Faults {
  return { slowMs: 0, exception: undefined, dropRate: 0, silence: false, truncate: false };
}

/** Parses fault specs (each `name` or `name=value`); CLI_USAGE naming the bad one. */
export function parseFaults(specs: readonly string[]): Faults {
  const faults = noFaults();
  for (const raw of specs.flatMap((s) => s.split(/[\s,]+/)).filter((s) => s !== '' && !s.startsWith('#'))) {
    const [name, value] = raw.split('=', 2) as [string, string | undefined];
    const number = (min: number, max: number, integer: boolean): number => {
      const n = value === undefined || value.trim() === '' ? Number.NaN : Number(value);
      if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
        throw new LmgwError('CLI_USAGE', `fault "${raw}": ${name} needs a ${integer ? 'whole number' : 'number'} from ${min} to ${max}`);
      }
      return n;
    };
    const flag = (): true => {
      if (value !== undefined) throw new LmgwError('CLI_USAGE', `fault "${raw}": ${name} takes no value`);
      return true;
    };
    switch (name) {
      case 'slow':
        faults.slowMs = number(0, 60_000, true);
        break;
      case 'exception':
        faults.exception = number(1, 255, true);
        break;
      case 'drop':
        faults.dropRate = number(0, 1, false);
        break;
      case 'silence':
        faults.silence = flag();
        break;
      case 'truncate':
        faults.truncate = flag();
        break;
      case 'none':
        flag();
        Object.assign(faults, noFaults());
        break;
      default:
        throw new LmgwError('CLI_USAGE', `unknown fault "${raw}" (use slow=MS, exception=CODE, drop=RATE, silence, truncate or none)`);
    }
  }
  return faults;
}

/** `slow=300 drop=0.1`, or `none`. */
export function describeFaults(faults: Faults): string {
  const parts: string[] = [];
  if (faults.silence) parts.push('silence');
  if (faults.exception !== undefined) parts.push(`exception=${faults.exception}`);
  if (faults.dropRate > 0) parts.push(`drop=${faults.dropRate}`);
  if (faults.slowMs > 0) parts.push(`slow=${faults.slowMs}`);
  if (faults.truncate) parts.push('truncate');
  return parts.length > 0 ? parts.join(' ') : 'none';
}
