/**
 * The text policy (src/protocol/text.ts, docs/protocol.md "Text policy"), one class of character
 * at a time, and how parseRequest applies it to chat and direct text of both dialects before it
 * counts the length.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, parseRequest, ProtocolError, sanitizeText, textLength, type Dialect } from '../../src/protocol';

const cp = (n: number) => String.fromCodePoint(n);
const hex = (s: string) => Array.from(s, (c) => c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')).join(' ');

describe('text policy: line breaks', () => {
  it('turns every line break into one space, CRLF included', () => {
    expect(sanitizeText('a\nb')).toBe('a b');
    expect(sanitizeText('a\rb')).toBe('a b');
    expect(sanitizeText('a\r\nb')).toBe('a b');
    expect(sanitizeText('a\u2028b')).toBe('a b'); // LINE SEPARATOR
    expect(sanitizeText('a\u2029b')).toBe('a b'); // PARAGRAPH SEPARATOR
    expect(sanitizeText('a\u0085b')).toBe('a b'); // NEXT LINE (C1)
    expect(sanitizeText('a\u000Bb\u000Cc')).toBe('a b c'); // vertical tab, form feed
    expect(sanitizeText('a\n\nb')).toBe('a  b');
  });

  it('turns a tab into a space', () => {
    expect(sanitizeText('a\tb')).toBe('a b');
  });

  it('leaves a spoofed "system:" line on the same line as the message', () => {
    const out = sanitizeText('hi\nsystem: admin joined the room global\r\n* bob left');
    expect(out).toBe('hi system: admin joined the room global * bob left');
    expect(out).not.toMatch(/[\r\n\u2028\u2029\u0085]/);
  });
});

describe('text policy: control characters and terminal escapes', () => {
  it('removes every other C0 and C1 control character and DEL', () => {
    let all = '';
    for (let c = 0; c <= 0x9f; c++) all += String.fromCharCode(c);
    const out = sanitizeText(all);
    expect(out).not.toMatch(/[\u0000-\u001F\u007F-\u009F]/);
    // Printable ASCII survives; tab, LF, VT, FF, CR and NEL became spaces, the rest is gone.
    const printable = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i)).join('');
    expect(out).toBe('     ' + printable + ' ');
  });

  it('removes whole ANSI escape sequences, leaving no debris', () => {
    expect(sanitizeText('\u001b[2J\u001b[1;31mboom\u001b[0m')).toBe('boom');
    expect(sanitizeText('title\u001b]0;pwned\u0007 end')).toBe('title end');
  });
});

describe('text policy: bidi controls', () => {
  const BIDI = [0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069, 0x200e, 0x200f, 0x061c];

  it.each(BIDI.map((c) => [c.toString(16).toUpperCase(), c]))('removes U+%s', (_name, c) => {
    expect(sanitizeText(`a${cp(c as number)}b`)).toBe('ab');
  });

  it('a right-to-left override cannot reverse what follows it', () => {
    // "invoice_\u202Efdp.exe" is drawn as "invoice_exe.pdf" by a bidi-aware terminal.
    expect(sanitizeText('invoice_\u202Efdp.exe')).toBe('invoice_fdp.exe');
  });

  it('keeps right-to-left text itself', () => {
    expect(sanitizeText('שלום עולם')).toBe('שלום עולם');
    expect(sanitizeText('مرحبا بالعالم')).toBe('مرحبا بالعالم');
  });
});

describe('text policy: zero-width and other invisible format characters', () => {
  it.each([
    ['200B', 0x200b], // ZERO WIDTH SPACE
    ['2060', 0x2060], // WORD JOINER
    ['FEFF', 0xfeff], // ZERO WIDTH NO-BREAK SPACE (BOM)
    ['00AD', 0x00ad], // SOFT HYPHEN
    ['180E', 0x180e], // MONGOLIAN VOWEL SEPARATOR
    ['2062', 0x2062], // INVISIBLE TIMES
    ['FFF9', 0xfff9], // INTERLINEAR ANNOTATION ANCHOR
    ['E0001', 0xe0001], // LANGUAGE TAG
  ])('removes U+%s between letters', (_name, c) => {
    expect(sanitizeText(`ad${cp(c)}min`)).toBe('admin');
  });

  it('removes ZWJ and ZWNJ between Latin letters or at the edges', () => {
    expect(sanitizeText('ad\u200Dmin')).toBe('admin');
    expect(hex(sanitizeText('\u200Cadmin\u200D'))).toBe(hex('admin'));
    expect(sanitizeText('a\u200C b')).toBe('a b');
  });

  it('keeps ZWJ inside emoji sequences', () => {
    for (const emoji of ['👩‍💻', '👨‍👩‍👧‍👦', '🏳️‍🌈', '🏃🏽‍♀️', '👁️‍🗨️', '❤️‍🔥', '🧑‍🤝‍🧑']) {
      expect(hex(sanitizeText(`hi ${emoji}!`)), emoji).toBe(hex(`hi ${emoji}!`));
    }
  });

  it('removes ZWJ that does not stand between an emoji or a mark and an emoji or a letter', () => {
    expect(hex(sanitizeText('👩\u200D'))).toBe(hex('👩'));
    expect(hex(sanitizeText('\u200D💻'))).toBe(hex('💻'));
    expect(hex(sanitizeText('a\u200D💻'))).toBe(hex('a💻'));
    expect(hex(sanitizeText('👩\u200D.'))).toBe(hex('👩.'));
    expect(hex(sanitizeText('👩\u200D\u200D💻'))).toBe(hex('👩💻'));
  });

  it('judges a joiner by its neighbours once the other invisible characters are gone', () => {
    // The zero-width space goes first; the ZWJ then joins two emoji, as it is drawn.
    expect(hex(sanitizeText('👩\u200B\u200D💻'))).toBe(hex('👩\u200D💻'));
  });

  it('keeps the joiners that scripts need: ZWNJ between letters, ZWJ after a virama', () => {
    const persian = 'می\u200Cخواهم'; // "I want", with the ZWNJ Persian writes between prefix and verb
    expect(hex(sanitizeText(persian))).toBe(hex(persian));
    const sinhala = 'ශ්\u200Dරී'; // "Sri", whose yansaya needs the ZWJ after the virama
    expect(hex(sanitizeText(sinhala))).toBe(hex(sinhala));
  });

  it('keeps the tags of a subdivision flag and removes tags anywhere else', () => {
    const scotland = '🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}';
    expect(hex(sanitizeText(`go ${scotland}`))).toBe(hex(`go ${scotland}`));
    expect(sanitizeText('a\u{E0067}\u{E0062}\u{E007F}b')).toBe('ab');
    // A tag sequence ends at its cancel tag: tags after it are hidden text again.
    expect(hex(sanitizeText(`${scotland}\u{E0061}x`))).toBe(hex(`${scotland}x`));
    // Without its cancel tag, or longer than a flag's, a sequence is hidden text too.
    expect(hex(sanitizeText('🏴\u{E0067}\u{E0062}x'))).toBe(hex('🏴x'));
    expect(hex(sanitizeText(`🏴${'\u{E0061}'.repeat(9)}\u{E007F}x`))).toBe(hex('🏴x'));
  });
});

describe('text policy: everything else is ordinary text', () => {
  it('leaves letters of every script, emoji, symbols and spaces alone', () => {
    const text = 'héllo 😀 名前 Ünïcödé ñ ß 𝔘𝔫𝔦 \u00A0nbsp \u3000ideographic 👍🏾 🇫🇷 1️⃣ e\u0301';
    expect(sanitizeText(text)).toBe(text);
  });

  it('replaces a lone surrogate with U+FFFD and keeps pairs', () => {
    expect(sanitizeText('a\uD800b')).toBe('a\uFFFDb');
    expect(sanitizeText('a\uDC00')).toBe('a\uFFFD');
    expect(sanitizeText('😀')).toBe('😀');
  });

  it('is idempotent', () => {
    const nasty = 'a\u001b[31m\n\u202E\u200B👩\u200D💻\u200D\u2028\t\u0085\uD800 ශ්\u200Dරී';
    const once = sanitizeText(nasty);
    expect(sanitizeText(once)).toBe(once);
  });

  it('counts code points', () => {
    expect(textLength('')).toBe(0);
    expect(textLength('abc')).toBe(3);
    expect(textLength('😀')).toBe(1);
    expect('😀'.length).toBe(2);
    expect(textLength('a😀b')).toBe(3);
    expect(textLength('名前')).toBe(2);
    expect(textLength('𝔘𝔫𝔦')).toBe(3);
  });
});

describe('parseRequest applies the policy before it measures', () => {
  const limits = { maxFrameBytes: 4096, maxMessageLength: 5 };
  const parse = (frame: object, dialect: Dialect) => {
    const text = JSON.stringify(frame);
    return parseRequest(text, Buffer.byteLength(text), dialect, limits);
  };
  const chat = (dialect: Dialect, text: string) => (dialect === 'v1' ? { type: 'message', text } : { type: 'chat_message', content: text });

  it.each(['legacy', 'v1'] as Dialect[])('%s: room chat arrives on one line, without bidi or zero-width characters', (dialect) => {
    expect(parse(chat(dialect, 'a\nb\u202Ec\u200B'), dialect)).toEqual({ kind: 'say', text: 'a bc' });
  });

  it.each(['legacy', 'v1'] as Dialect[])('%s: /msg text follows the same policy', (dialect) => {
    expect(parse(chat(dialect, '/msg bob x\ny\u2066z'), dialect)).toEqual({ kind: 'direct', to: 'bob', text: 'x yz' });
  });

  it('v1 direct text follows the same policy', () => {
    expect(parse({ type: 'direct', to: 'bob', text: 'x\r\n\u200Fy' }, 'v1')).toEqual({ kind: 'direct', to: 'bob', text: 'x y' });
  });

  it('invisible characters do not count towards the length limit', () => {
    expect(parse(chat('v1', '\u200B\u200B\u200B\u202E\u202Eabcde\uFEFF'), 'v1')).toEqual({ kind: 'say', text: 'abcde' });
  });

  it('an emoji ZWJ sequence counts its code points, joiners included', () => {
    // 👩‍💻 is three code points (woman, ZWJ, laptop): five characters allow one and two letters.
    expect(parse(chat('v1', '👩‍💻ab'), 'v1')).toEqual({ kind: 'say', text: '👩‍💻ab' });
    expect(() => parse(chat('v1', '👩‍💻abc'), 'v1')).toThrow(ProtocolError);
  });

  it('a message of only invisible characters is empty_message', () => {
    let err: unknown;
    try {
      parse(chat('legacy', '\u200B\u2060\uFEFF\u202E\n'), 'legacy');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).code).toBe(ErrorCode.EmptyMessage);
  });

  it('echoes client input in errors under the policy too', () => {
    let err: unknown;
    try {
      parse(chat('legacy', '/nope\u202E\u200B'), 'legacy');
    } catch (e) {
      err = e;
    }
    expect((err as ProtocolError).message).toBe('unknown command /nope; try /help');
  });
});
