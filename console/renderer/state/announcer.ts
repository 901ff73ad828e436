/**
 * Outcomes the operator must not miss ("Shed of channel 3 on site-a confirmed"): shown as toasts and
 * read out by screen readers through one polite live region (components/announcements.tsx).
 */
export type Tone = 'ok' | 'warning' | 'error' | 'info';

export interface Announcement {
  id: number;
  time: number;
  text: string;
  tone: Tone;
}

/** How many stay on screen; older ones drop off (the audit log has them all). */
const KEEP = 4;
/** Good news leaves the screen after this; warnings and errors stay until dismissed. */
const OK_TOAST_MS = 20_000;

export class Announcer {
  #items: readonly Announcement[] = [];
  #next = 1;
  readonly #listeners = new Set<() => void>();

  getItems = (): readonly Announcement[] => this.#items;

  subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  announce = (text: string, tone: Tone = 'info'): void => {
    const id = this.#next++;
    this.#items = [...this.#items, { id, time: Date.now(), text, tone }].slice(-KEEP);
    this.#emit();
    if (tone === 'ok' || tone === 'info') setTimeout(() => this.dismiss(id), OK_TOAST_MS);
  };

  dismiss = (id: number): void => {
    this.#items = this.#items.filter((a) => a.id !== id);
    this.#emit();
  };

  #emit(): void {
    for (const l of [...this.#listeners]) l();
  }
}
