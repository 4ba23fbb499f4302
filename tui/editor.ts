/**
 * The terminal client's input line, kept by us rather than by a blessed textbox. A textbox
 * stops reading at every Enter and starts again on the next tick (readInput attaches its key
 * listener in a setImmediate), so keys typed right after Enter, or before the first prompt was
 * ready, fell into that gap and were lost. This editor is fed every keypress of the screen from
 * the start and never stops listening, so nothing typed is dropped; it is pure, so it is
 * unit-tested.
 *
 * Keys are blessed's: (ch, { name, ctrl, meta, full }). Enter arrives as 'enter' (blessed
 * emits it after 'return' for a CR); a LF, which is what Enter becomes when typed while the
 * terminal was still in cooked mode (the tty turns CR into LF before we set raw mode), arrives
 * as 'linefeed' and counts as Enter too.
 */
export interface Key {
  name?: string;
  ctrl?: boolean;
  meta?: boolean;
  full?: string;
}

export type EditorEvent =
  | { kind: 'submit'; line: string }
  | { kind: 'changed' }
  | { kind: 'complete' }
  | { kind: 'ignored' };

/** Printable: no control characters (C0, DEL, C1), which a terminal would act on. */
const PRINTABLE = /^[^\u0000-\u001f\u007f-\u009f]+$/u;

export class LineEditor {
  /** The line, as code points (so the cursor never splits a character). */
  private chars: string[] = [];
  /** Cursor position, in code points. */
  cursor = 0;
  private readonly history: string[] = [];
  /** Where Up/Down is in the history (history.length: the line being typed). */
  private at = 0;

  get value(): string {
    return this.chars.join('');
  }

  set(value: string): void {
    this.chars = [...value];
    this.cursor = this.chars.length;
  }

  /** Handles one keypress; says what the view should do. */
  key(ch: string | undefined, key: Key): EditorEvent {
    const name = key.name;
    if (name === 'enter' || name === 'linefeed') {
      const line = this.value;
      this.set('');
      this.at = this.history.length;
      return { kind: 'submit', line };
    }
    if (name === 'return') return { kind: 'ignored' }; // blessed sends 'enter' right after it
    if (name === 'tab') return { kind: 'complete' };
    if (key.ctrl) {
      switch (name) {
        case 'a':
          return this.move(0);
        case 'e':
          return this.move(this.chars.length);
        case 'b':
          return this.move(this.cursor - 1);
        case 'f':
          return this.move(this.cursor + 1);
        case 'u': // delete to the start of the line
          this.chars.splice(0, this.cursor);
          this.cursor = 0;
          return { kind: 'changed' };
        case 'k': // delete to the end of the line
          this.chars.splice(this.cursor);
          return { kind: 'changed' };
        case 'w': {
          // delete the word before the cursor
          let start = this.cursor;
          while (start > 0 && this.chars[start - 1] === ' ') start--;
          while (start > 0 && this.chars[start - 1] !== ' ') start--;
          this.chars.splice(start, this.cursor - start);
          this.cursor = start;
          return { kind: 'changed' };
        }
        case 'h': // what some terminals send for Backspace
          return this.backspace();
        default:
          return { kind: 'ignored' };
      }
    }
    switch (name) {
      case 'backspace':
        return this.backspace();
      case 'delete':
        if (this.cursor >= this.chars.length) return { kind: 'ignored' };
        this.chars.splice(this.cursor, 1);
        return { kind: 'changed' };
      case 'left':
        return this.move(this.cursor - 1);
      case 'right':
        return this.move(this.cursor + 1);
      case 'home':
        return this.move(0);
      case 'end':
        return this.move(this.chars.length);
      case 'up':
        return this.recall(-1);
      case 'down':
        return this.recall(1);
    }
    if (key.meta || ch === undefined || !PRINTABLE.test(ch)) return { kind: 'ignored' };
    const typed = [...ch];
    this.chars.splice(this.cursor, 0, ...typed);
    this.cursor += typed.length;
    return { kind: 'changed' };
  }

  private backspace(): EditorEvent {
    if (this.cursor === 0) return { kind: 'ignored' };
    this.chars.splice(this.cursor - 1, 1);
    this.cursor--;
    return { kind: 'changed' };
  }

  private move(to: number): EditorEvent {
    const next = Math.max(0, Math.min(this.chars.length, to));
    if (next === this.cursor) return { kind: 'ignored' };
    this.cursor = next;
    return { kind: 'changed' };
  }

  /** Keeps a sent line for Up/Down (not a name typed at the prompt). */
  remember(line: string): void {
    if (this.history[this.history.length - 1] !== line) this.history.push(line);
    this.at = this.history.length;
  }

  private recall(step: number): EditorEvent {
    if (!this.history.length) return { kind: 'ignored' };
    this.at = Math.max(0, Math.min(this.history.length, this.at + step));
    this.set(this.history[this.at] ?? '');
    return { kind: 'changed' };
  }

  /** The visible part of the line for a field `width` wide, and the cursor's column in it. */
  view(width: number): { text: string; column: number } {
    const w = Math.max(1, width - 1); // one cell for the cursor at the end
    const start = Math.max(0, this.cursor - w);
    return { text: this.chars.slice(start, start + w).join(''), column: this.cursor - start };
  }
}
