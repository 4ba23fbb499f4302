import { describe, expect, it } from 'vitest';
import { LineEditor, type Key } from '../../tui/editor';

/** Feeds keys as blessed names them: a string is typed character by character; an object is one key. */
function feed(editor: LineEditor, ...keys: (string | Key)[]) {
  const events = [];
  for (const k of keys) {
    if (typeof k === 'string') for (const ch of k) events.push(editor.key(ch, { name: ch.toLowerCase() }));
    else events.push(editor.key(undefined, k));
  }
  return events;
}

describe('the terminal client line editor', () => {
  it('submits exactly what was typed, on Enter and on a cooked-mode LF alike, and starts a new line', () => {
    const e = new LineEditor();
    const events = feed(e, 'zed', { name: 'return' }, { name: 'enter' }, 'first line', { name: 'linefeed' });
    expect(events.filter((ev) => ev.kind === 'submit')).toEqual([
      { kind: 'submit', line: 'zed' },
      { kind: 'submit', line: 'first line' },
    ]);
    expect(e.value).toBe('');
    // Spaces are kept: the view decides (a name with a space is refused, not trimmed into another).
    feed(e, ' bob ');
    expect(feed(e, { name: 'enter' })).toEqual([{ kind: 'submit', line: ' bob ' }]);
  });

  it('edits in the middle, by code point, and drops control characters and escape sequences', () => {
    const e = new LineEditor();
    feed(e, 'helo', { name: 'left' });
    feed(e, 'l');
    expect(e.value).toBe('hello');
    feed(e, { name: 'home' }, 'ö', { name: 'end' }, '✓');
    expect(e.value).toBe('öhello✓');
    feed(e, { name: 'backspace' }, { name: 'home' }, { name: 'delete' });
    expect(e.value).toBe('hello');
    expect(e.key('\u001b[?1;2c', {}).kind).toBe('ignored');
    expect(e.key('\u0007', {}).kind).toBe('ignored');
    expect(e.key('x', { name: 'x', meta: true }).kind).toBe('ignored');
    expect(e.value).toBe('hello');
    e.key('😀', {});
    expect(e.cursor).toBe(1);
    feed(e, { name: 'backspace' });
    expect(e.value).toBe('hello');
  });

  it('has the usual line keys: Ctrl-A/E/U/K/W, and Tab asks the view to complete', () => {
    const e = new LineEditor();
    feed(e, 'one two three', { name: 'w', ctrl: true });
    expect(e.value).toBe('one two ');
    feed(e, { name: 'a', ctrl: true }, { name: 'k', ctrl: true });
    expect(e.value).toBe('');
    feed(e, 'abc', { name: 'b', ctrl: true }, { name: 'u', ctrl: true });
    expect(e.value).toBe('c');
    expect(feed(e, { name: 'tab' })).toEqual([{ kind: 'complete' }]);
  });

  it('recalls remembered lines with Up and Down, back to an empty line', () => {
    const e = new LineEditor();
    for (const line of ['first', 'second']) {
      feed(e, line);
      const [ev] = feed(e, { name: 'enter' });
      if (ev.kind === 'submit') e.remember(ev.line);
    }
    feed(e, { name: 'up' });
    expect(e.value).toBe('second');
    feed(e, { name: 'up' }, { name: 'up' });
    expect(e.value).toBe('first');
    feed(e, { name: 'down' }, { name: 'down' });
    expect(e.value).toBe('');
  });

  it('shows the part of a long line around the cursor', () => {
    const e = new LineEditor();
    e.set('abcdefghij');
    expect(e.view(5)).toEqual({ text: 'ghij', column: 4 });
    feed(e, { name: 'home' });
    expect(e.view(5)).toEqual({ text: 'abcd', column: 0 });
  });
});
