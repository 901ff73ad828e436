/**
 * The shed dialog's form, checked before anything is sent: from what the operator typed to a
 * ShedRequest, or the problems in words. The hub validates again (it trusts no client); this is so the
 * operator gets a clear message next to the field instead of a 400. Pure.
 */
import type { ShedRequest } from '../../hub/operator/types.js';

export type ScopeKind = 'gateway' | 'gateways' | 'label' | 'fleet';
export type SelectorKind = 'channels' | 'priority' | 'targetKw';

export interface ShedForm {
  scope: ScopeKind;
  gatewayId: string;
  gatewayIds: readonly string[];
  label: string;
  selector: SelectorKind;
  /** As typed: "1, 2, 101" or ranges "1-4". */
  channels: string;
  maxPriority: string;
  targetKw: string;
  durationMinutes: string;
  note: string;
}

export const EMPTY_SHED_FORM: ShedForm = {
  scope: 'fleet',
  gatewayId: '',
  gatewayIds: [],
  label: '',
  selector: 'priority',
  channels: '',
  maxPriority: '1',
  targetKw: '',
  durationMinutes: '15',
  note: '',
};

/** The operator API's bounds (docs/operator-api.md). */
const MAX_DURATION_MINUTES = 1440;
const MAX_CHANNEL = 999;
const MAX_KW = 1_000_000;
const MAX_NOTE = 500;
// Control and bidirectional-override characters are refused by the hub; say so here first.
const UNSAFE_TEXT = /[\p{Cc}\u202A-\u202E\u2066-\u2069]/u;

/** "1, 2, 5-7" → [1, 2, 5, 6, 7]; a message when it is not a channel list. */
export function parseChannelList(text: string): number[] | string {
  const ids = new Set<number>();
  const parts = text.split(/[\s,;]+/).filter((p) => p !== '');
  if (parts.length === 0) return 'name at least one channel';
  for (const part of parts) {
    const m = /^(\d{1,3})(?:\s*[-–]\s*(\d{1,3}))?$/.exec(part);
    if (!m) return `"${part}" is not a channel number or range`;
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (from < 1 || to > MAX_CHANNEL || to < from) return `"${part}": channels are 1 to ${MAX_CHANNEL}`;
    for (let c = from; c <= to; c++) ids.add(c);
  }
  return [...ids].sort((a, b) => a - b);
}

function wholeNumber(text: string): number | undefined {
  return /^\s*\d+\s*$/.test(text) ? Number(text) : undefined;
}

export type ShedFormResult = { ok: true; request: ShedRequest } | { ok: false; problems: Partial<Record<keyof ShedForm, string>> };

export function buildShedRequest(form: ShedForm): ShedFormResult {
  const problems: Partial<Record<keyof ShedForm, string>> = {};
  let scope: ShedRequest['scope'] = { kind: 'fleet' };
  switch (form.scope) {
    case 'fleet':
      break;
    case 'gateway':
      if (form.gatewayId === '') problems.gatewayId = 'choose a gateway';
      scope = { kind: 'gateway', gatewayId: form.gatewayId };
      break;
    case 'gateways':
      if (form.gatewayIds.length === 0) problems.gatewayIds = 'select at least one gateway';
      scope = { kind: 'gateways', gatewayIds: [...new Set(form.gatewayIds)] };
      break;
    case 'label':
      if (form.label === '') problems.label = 'choose a label';
      scope = { kind: 'label', label: form.label };
      break;
  }

  let selector: ShedRequest['selector'] = { kind: 'priority', maxPriority: 1 };
  switch (form.selector) {
    case 'priority': {
      const p = wholeNumber(form.maxPriority);
      if (p === undefined || p < 1 || p > 99) problems.maxPriority = 'a whole number from 1 to 99';
      else selector = { kind: 'priority', maxPriority: p };
      break;
    }
    case 'channels': {
      const list = parseChannelList(form.channels);
      if (typeof list === 'string') problems.channels = list;
      else selector = { kind: 'channels', channels: list };
      break;
    }
    case 'targetKw': {
      const kw = Number(form.targetKw.trim().replace(',', '.'));
      if (form.targetKw.trim() === '' || !Number.isFinite(kw) || kw <= 0 || kw > MAX_KW) problems.targetKw = 'a power in kW above 0';
      else selector = { kind: 'targetKw', kw };
      break;
    }
  }

  const minutes = Number(form.durationMinutes.trim().replace(',', '.'));
  if (form.durationMinutes.trim() === '' || !Number.isFinite(minutes) || minutes <= 0 || minutes > MAX_DURATION_MINUTES) {
    problems.durationMinutes = `minutes, more than 0 and at most ${MAX_DURATION_MINUTES} (24 h)`;
  }
  const note = form.note.trim();
  if (note.length > MAX_NOTE) problems.note = `at most ${MAX_NOTE} characters`;
  else if (UNSAFE_TEXT.test(note)) problems.note = 'no control characters';

  if (Object.keys(problems).length > 0) return { ok: false, problems };
  const request: ShedRequest = { scope, selector, durationSeconds: Math.max(1, Math.round(minutes * 60)) };
  if (note !== '') request.note = note;
  return { ok: true, request };
}

/** Duration of a per-channel shed from the inline field: seconds, or a message. */
export function parseDurationMinutes(text: string): number | string {
  const minutes = Number(text.trim().replace(',', '.'));
  if (text.trim() === '' || !Number.isFinite(minutes) || minutes <= 0 || minutes > MAX_DURATION_MINUTES) {
    return `minutes, more than 0 and at most ${MAX_DURATION_MINUTES}`;
  }
  return Math.max(1, Math.round(minutes * 60));
}
