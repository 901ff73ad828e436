import { describe, expect, it } from 'vitest';
import { TypedEvents } from '../../shared/typed-events.js';

type Events = { tick: [number]; done: [] };

describe('TypedEvents', () => {
  it('calls every listener in order; one that throws does not stop the others', () => {
    const errors: unknown[] = [];
    const events = new TypedEvents<Events>((err) => errors.push(err));
    const seen: string[] = [];
    events.on('tick', (n) => seen.push(`a${n}`));
    events.on('tick', () => {
      throw new Error('boom');
    });
    events.on('tick', (n) => seen.push(`c${n}`));
    events.emit('tick', 1);
    expect(seen).toEqual(['a1', 'c1']);
    expect(errors).toHaveLength(1);
  });

  it('a listener added or removed during an emit counts from the next emit', () => {
    const events = new TypedEvents<Events>();
    const seen: string[] = [];
    const late = (n: number): void => void seen.push(`late${n}`);
    const second = (n: number): void => void seen.push(`second${n}`);
    events.on('tick', (n) => {
      seen.push(`first${n}`);
      if (n === 1) {
        events.on('tick', late);
        events.off('tick', second);
      }
    });
    events.on('tick', second);
    events.emit('tick', 1);
    events.emit('tick', 2);
    expect(seen).toEqual(['first1', 'second1', 'first2', 'late2']);
  });

  it('once fires once; off and the returned function remove; adding twice keeps one', () => {
    const events = new TypedEvents<Events>();
    let once = 0;
    let twice = 0;
    const listener = (): void => void (twice += 1);
    events.once('done', () => (once += 1));
    events.on('done', listener);
    const off = events.on('done', listener);
    expect(events.listenerCount('done')).toBe(2);
    events.emit('done');
    events.emit('done');
    expect(once).toBe(1);
    expect(twice).toBe(2);
    off();
    events.emit('done');
    expect(twice).toBe(2);
    expect(events.listenerCount('done')).toBe(0);
  });
});
