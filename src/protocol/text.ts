/**
 * The text policy for chat text (docs/protocol.md, "Text policy"): what a client sends is shown
 * to others as one line, in the order it was typed, with nothing hidden. The server applies it to
 * every chat and direct message it accepts; the terminal client applies it again to everything it
 * draws, since a server of another version may not have.
 */

// Whole ANSI sequences (CSI "ESC [ ... final" and OSC "ESC ] ... BEL/ST"), so no "[31m" debris is left.
const ANSI_SEQUENCES = /\u001B\[[0-?]*[ -/]*[@-~]|\u001B\][^\u0007\u001B]*(?:\u0007|\u001B\\)?/g;

// Everything a terminal or a client takes as the end of a line (CRLF counts once), and the tab,
// which moves to a column: a space each, so a message cannot start a line that looks like the server's.
const LINE_BREAKS = /\r\n|[\t\n\v\f\r\u0085\u2028\u2029]/g;

// The remaining C0 and C1 controls (and DEL): they could drive other users' terminals.
const CONTROL_CHARS = /[\u0000-\u001F\u007F-\u009F]/g;

/*
 * Format characters (general category Cf) are invisible. Among them are the bidi controls
 * (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C), which reorder what follows them, and
 * the zero-width characters (U+200B, U+2060, U+FEFF), which hide inside words. All are removed
 * except where real text needs them:
 * - ZWJ (U+200D) between emoji ("👩‍💻", "🏳️‍🌈"), or after a combining mark before a letter
 *   (Sinhala "ශ්‍රී", Indic conjuncts);
 * - ZWNJ (U+200C) between letters (Persian "می‌خواهم", Indic scripts);
 * - tag characters (U+E0020-U+E007F) in a flag's tag sequence after U+1F3F4 ("🏴󠁧󠁢󠁳󠁣󠁴󠁿").
 */
const FORMAT_CHAR = /\p{Cf}/u;
const ZWJ = '\u200D';
const ZWNJ = '\u200C';
const BLACK_FLAG = '\u{1F3F4}';
const CANCEL_TAG = '\u{E007F}';
const TAG = /[\u{E0020}-\u{E007F}]/u;
const EMOJI = /\p{Extended_Pictographic}/u;
// What may end the emoji before a ZWJ: the emoji, a skin tone, or the emoji presentation selector.
const EMOJI_END = /[\p{Extended_Pictographic}\p{Emoji_Modifier}\uFE0F]/u;
const LETTER = /\p{L}/u;
const MARK = /\p{M}/u;

function removeFormatChars(text: string): string {
  if (!FORMAT_CHAR.test(text)) return text;
  const chars = Array.from(text);
  let out = '';
  let inFlag = false;
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i];
    if (!FORMAT_CHAR.test(ch)) {
      out += ch;
      inFlag = ch === BLACK_FLAG;
      continue;
    }
    const prev = chars[i - 1] ?? '';
    const next = chars[i + 1] ?? '';
    if (TAG.test(ch)) {
      if (inFlag) out += ch;
      if (ch === CANCEL_TAG) inFlag = false;
      continue;
    }
    inFlag = false;
    if (ch === ZWJ && ((EMOJI_END.test(prev) && EMOJI.test(next)) || (MARK.test(prev) && LETTER.test(next)))) out += ch;
    else if (ch === ZWNJ && (LETTER.test(prev) || MARK.test(prev)) && LETTER.test(next)) out += ch;
  }
  return out;
}

// A lone surrogate (JSON allows "\ud800") is not text; it becomes U+FFFD, as a decoder would show it.
const LONE_SURROGATES = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Applies the text policy: terminal escapes and controls removed, line breaks and tabs turned into
 * spaces, invisible format characters (bidi controls, zero-width characters) removed except the
 * joiners that emoji and some scripts need, lone surrogates replaced by U+FFFD.
 */
export function sanitizeText(text: string): string {
  const flat = text
    .replace(ANSI_SEQUENCES, '')
    .replace(LINE_BREAKS, ' ')
    .replace(CONTROL_CHARS, '')
    .replace(LONE_SURROGATES, '\uFFFD');
  return removeFormatChars(flat);
}

/** Length in Unicode code points, so an emoji counts once. */
export function textLength(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}
