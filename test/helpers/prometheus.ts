/**
 * Scraping /metrics as Prometheus would: the text read by the Prometheus project's own Python
 * client parser (Debian's python3-prometheus-client, `prometheus_client.parser`), and checked by
 * promtool (Debian's `prometheus` package; LMGW_PROMTOOL names another binary). Both are real
 * readers of the exposition format, not a regular expression of ours.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Debian's Python (a pyenv shim earlier on PATH would not see python3-prometheus-client). */
const PYTHON = process.env.LMGW_PYTHON ?? '/usr/bin/python3';

const PARSE = `
import json, math, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type, "samples": [
        {"name": s.name, "labels": s.labels, "value": None if math.isnan(s.value) else s.value if math.isfinite(s.value) else str(s.value)}
        for s in f.samples]})
print(json.dumps(out))
`;

interface Family {
  name: string;
  type: string;
  samples: { name: string; labels: Record<string, string>; value: number | string | null }[];
}

/** The families of an exposition, as prometheus_client.parser reads them; throws what it says about a bad text. */
export function parseExposition(text: string): Family[] {
  const ran = spawnSync(PYTHON, ['-c', PARSE], { input: text, encoding: 'utf8' });
  if (ran.status !== 0) throw new Error(`prometheus_client.parser refused the exposition (or is not installed: apt-get install python3-prometheus-client): ${ran.stderr.trim()}`);
  return JSON.parse(ran.stdout) as Family[];
}

export interface Scrape {
  status: number;
  contentType: string;
  text: string;
  /** The value of the sample with this name (as written: `…_total`, `…_count`) and exactly these labels. */
  value(sample: string, labels?: Record<string, string>): number | undefined;
  /** The family's type (counter, gauge, histogram, …) by its name without suffix. */
  type(family: string): string | undefined;
  /**
   * Whether the exposition declares this series (as a query names it: `…_total`, `…_bucket`), with
   * samples or not yet (a labelled counter has none until its first event).
   */
  declares(series: string): boolean;
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

export async function scrape(url: string): Promise<Scrape> {
  const res = await fetch(url);
  const text = await res.text();
  const families = res.ok ? parseExposition(text) : [];
  const samples = families.flatMap((f) => f.samples);
  return {
    status: res.status,
    contentType: res.headers.get('content-type') ?? '',
    text,
    value(name, labels = {}) {
      const v = samples.find((s) => s.name === name && sameLabels(s.labels, labels))?.value;
      return v === undefined || v === null ? undefined : Number(v);
    },
    type: (name) => families.find((f) => f.name === name)?.type,
    declares: (series) => samples.some((x) => x.name === series) || families.some((f) => f.name === series.replace(/_(total|bucket|sum|count)$/, '')),
  };
}

/** The promtool binary, or undefined when it is not installed. */
export function promtool(): string | undefined {
  const candidate = process.env.LMGW_PROMTOOL ?? 'promtool';
  const probe = spawnSync(candidate, ['--version'], { encoding: 'utf8' });
  return probe.status === 0 ? candidate : undefined;
}

/** `promtool check metrics` on an exposition: its complaints (empty when it has none). */
export function promtoolProblems(bin: string, text: string): string {
  const ran = spawnSync(bin, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return ran.status === 0 ? '' : `${ran.stdout}${ran.stderr}`.trim() || `promtool exited ${ran.status}`;
}

/** `promtool check rules` on these PromQL expressions (as recording rules): its complaints, empty when it has none. */
export function promtoolQueryProblems(bin: string, dir: string, exprs: readonly string[]): string {
  const file = join(dir, 'queries.rules.yml');
  const rules = exprs.map((e, i) => `      - record: lmgw:check_${i}\n        expr: ${JSON.stringify(e)}`).join('\n');
  writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules}\n`);
  const ran = spawnSync(bin, ['check', 'rules', file], { encoding: 'utf8' });
  return ran.status === 0 ? '' : `${ran.stdout}${ran.stderr}`.trim();
}
