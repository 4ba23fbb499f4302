import { describe, expect, it } from 'vitest';
import { Emitter } from '../../tui/core/emitter';

describe('the client core emitter (node:events for browsers too)', () => {
  it('calls listeners in order, once-listeners once, and none after off (also for a once-listener)', () => {
    const e = new Emitter();
    const calls: string[] = [];
    const a = (x: number) => calls.push(`a${x}`);
    const b = (x: number) => calls.push(`b${x}`);
    e.on('x', a).once('x', b);
    expect(e.emit('x', 1)).toBe(true);
    expect(e.emit('x', 2)).toBe(true);
    e.off('x', a);
    expect(e.emit('x', 3)).toBe(false);
    expect(calls).toEqual(['a1', 'b1', 'a2']);
    const c = () => calls.push('c');
    e.once('y', c);
    e.removeListener('y', c);
    expect(e.listenerCount('y')).toBe(0);
  });

  it('does not skip the next listener when one removes itself while called', () => {
    const e = new Emitter();
    const calls: string[] = [];
    const first = () => {
      calls.push('first');
      e.off('x', first);
    };
    e.on('x', first).on('x', () => calls.push('second'));
    e.emit('x');
    e.emit('x');
    expect(calls).toEqual(['first', 'second', 'second']);
  });
});
