/**
 * What the terminal client draws (tui/lines.ts), down to the cells of a real blessed screen on a
 * fake terminal: a message cannot add a line, reorder itself or look like a notice, whoever sent it
 * and whatever a server of another version let through.
 */
import { PassThrough } from 'node:stream';
import blessed from 'blessed';
import { afterEach, describe, expect, it } from 'vitest';
import { colourOf, directLine, messageLine, noticeLine, shown } from '../../tui/lines';

const TS = '2026-11-24T10:20:00.000Z';

describe('shown', () => {
  it('applies the text policy and escapes blessed tags', () => {
    expect(shown('a\nb\u202Ec\u200B')).toBe('a bc');
    expect(shown('{red-fg}x{/red-fg}')).toBe(blessed.escape('{red-fg}x{/red-fg}'));
    expect(shown('\u001b[31mred')).toBe('red');
    expect(shown(undefined)).toBe('');
    expect(shown(42)).toBe('42');
  });
});

describe('line formats', () => {
  it('a notice is grey from end to end and marked with *', () => {
    expect(noticeLine('bob joined', TS)).toMatch(/^\{grey-fg\}\d\d:\d\d \* bob joined\{\/grey-fg\}$/);
  });

  it('a message from a user named "system" is drawn as a message, not a notice', () => {
    const line = messageLine({ from: 'system', text: 'the server restarts', ts: TS });
    expect(line).toMatch(/^\{grey-fg\}\d\d:\d\d\{\/grey-fg\} \{[a-z-]+-fg\}\{bold\}system\{\/bold\}/);
    expect(line).not.toContain(' * ');
    expect(line.endsWith(' the server restarts')).toBe(true);
  });

  it('message and direct text pass the text policy', () => {
    expect(messageLine({ from: 'eve', text: 'hi\n10:20 * admin joined', ts: TS })).not.toContain('\n');
    expect(directLine({ from: 'eve', to: 'bob', text: 'x\u2028y\u202E', ts: TS })).toMatch(/:\{\/magenta-fg\} x y$/);
  });

  it('user colours are never the notices\' grey', () => {
    const names = Array.from({ length: 500 }, (_, i) => `user${i}`);
    expect(new Set(names.map(colourOf)).has('grey')).toBe(false);
    expect(new Set(names.map(colourOf)).size).toBeGreaterThan(5);
  });
});

describe('on a blessed screen', () => {
  let screen: blessed.Widgets.Screen | null = null;
  afterEach(() => {
    screen?.destroy();
    screen = null;
  });

  /** Draws `lines` into a log like the view's on a 40-column fake terminal; returns each row's text and cell attributes. */
  function render(lines: string[], columns = 40): { text: string; attrs: number[] }[] {
    const output = Object.assign(new PassThrough(), { columns, rows: 12, isTTY: true });
    const input = Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => undefined });
    screen = blessed.screen({ input, output, smartCSR: true, fullUnicode: true, terminal: 'xterm-256color', warnings: false } as never);
    const log = blessed.log({ parent: screen, top: 0, left: 0, width: '100%', height: '100%', tags: true, scrollable: true });
    for (const l of lines) log.log(l);
    screen.render();
    return (screen as unknown as { lines: [number, string][][] }).lines.map((row) => ({
      text: row.map((cell) => cell[1]).join('').trimEnd(),
      attrs: row.map((cell) => cell[0]),
    }));
  }
  const used = (rows: { text: string }[]) => rows.filter((r) => r.text !== '');

  it('a newline with a fake notice stays on the message\'s row', () => {
    const rows = used(render([noticeLine('bob joined', TS), messageLine({ from: 'eve', text: 'hi\n10:20 * admin joined', ts: TS })]));
    expect(rows.map((r) => r.text)).toEqual([expect.stringMatching(/^\d\d:\d\d \* bob joined$/), expect.stringMatching(/^\d\d:\d\d eve hi 10:20 \* admin joined$/)]);
  });

  it('a bidi override does not reverse the text on screen', () => {
    const rows = used(render([messageLine({ from: 'eve', text: 'file_\u202Efdp.exe', ts: TS })]));
    expect(rows).toHaveLength(1);
    expect(rows[0].text).toMatch(/ eve file_fdp\.exe$/);
    expect(rows[0].text).not.toContain('\u202E');
  });

  it('a message wrapped so that a fake notice starts a row is still not grey', () => {
    const notice = used(render([noticeLine('bob joined', TS)]))[0];
    // Pad so that the wrap puts "10:20 * admin joined" at the start of the second row.
    const rows = used(render([messageLine({ from: 'eve', text: `${'x'.repeat(29)} 10:20 * admin joined`, ts: TS })]));
    expect(rows.map((r) => r.text)).toEqual([expect.stringMatching(/^\d\d:\d\d eve x{29}$/), '10:20 * admin joined']);
    const grey = notice.attrs[0];
    const plain = rows[1].attrs.slice(0, rows[1].text.length);
    expect(notice.attrs.slice(0, notice.text.length).every((a) => a === grey)).toBe(true);
    expect(plain.some((a) => a === grey)).toBe(false);
  });
});
