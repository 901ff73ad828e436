/**
 * Work on 20,000 of anything is done in slices, with the event loop served in between (pings,
 * telemetry acks, the UI): nothing in the hub may hold the loop for long.
 */

/** Resolves on the next turn of the event loop, after the I/O that is ready. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Array elements serialised per turn. */
export const JSON_SLICE = 500;

/** Depth to which objects are searched for a large array (an API answer is `{result: {gateways: [...]}}`). */
const MAX_DEPTH = 3;

function hasLargeArray(value: unknown, slice: number, depth: number): boolean {
  if (Array.isArray(value)) return value.length > slice;
  if (value === null || typeof value !== 'object' || depth === 0 || typeof (value as { toJSON?: unknown }).toJSON === 'function') return false;
  for (const v of Object.values(value)) if (hasLargeArray(v, slice, depth - 1)) return true;
  return false;
}

/**
 * The text made so far, turned into UTF-8 a slice at a time: converting a whole 19,900-command answer
 * (≈ 6 MB) at the end showed as 38–42 ms of writeUtf8String in one task of the hub's CPU profile.
 */
class Utf8Out {
  readonly chunks: Buffer[] = [];
  private text: string[] = [];

  push(...parts: string[]): void {
    this.text.push(...parts);
  }

  /** Converts what was pushed since the last cut. */
  cut(): void {
    if (this.text.length === 0) return;
    this.chunks.push(Buffer.from(this.text.join(''), 'utf8'));
    this.text = [];
  }
}

async function write(value: unknown, out: Utf8Out, slice: number, depth: number): Promise<void> {
  if (Array.isArray(value) && value.length > slice) {
    out.push('[');
    for (let i = 0; i < value.length; i += slice) {
      if (i > 0) {
        out.push(',');
        out.cut();
        await nextTurn();
      }
      out.push(JSON.stringify(value.slice(i, i + slice)).slice(1, -1));
    }
    out.push(']');
    return;
  }
  if (!Array.isArray(value) && hasLargeArray(value, slice, depth)) {
    out.push('{');
    let first = true;
    for (const [key, v] of Object.entries(value as object)) {
      if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue; // as JSON.stringify leaves them out
      out.push(first ? '' : ',', JSON.stringify(key), ':');
      first = false;
      await write(v, out, slice, depth - 1);
    }
    out.push('}');
    return;
  }
  out.push(JSON.stringify(value));
}

/**
 * JSON.stringify's text for `value` as UTF-8, made `slice` array elements per turn of the event loop
 * where an array (at most MAX_DEPTH objects deep) is longer than that: the fleet snapshot of 19,900
 * gateways is 13.7 MiB (bench:ui), and 20,000 summaries of its shape took ≈ 250 ms in one
 * JSON.stringify (measured alone, on a busy machine). Each slice's text is converted to UTF-8 in its
 * own turn too; the answer goes to the socket as these chunks. For plain data (what the operator API
 * answers: no toJSON below the top, no cycles); the value must not change until the promise resolves.
 */
export async function jsonSliced(value: unknown, slice = JSON_SLICE): Promise<Buffer[]> {
  const out = new Utf8Out();
  await write(value, out, slice, MAX_DEPTH);
  out.cut();
  return out.chunks;
}
