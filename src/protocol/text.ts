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
 * - ZWJ (U+200D) after an emoji, a skin tone or a combining mark (U+FE0F is one, and so is a
 *   virama) and before an emoji or a letter: "👩‍💻", "🏳️‍🌈", Sinhala "ශ්‍රී", Indic conjuncts;
 * - ZWNJ (U+200C) after a letter or a mark and before a letter: Persian "می‌خواهم", Indic scripts;
 * - tag characters (U+E0020-U+E007F) in a flag's tag sequence, U+1F3F4 then at most eight tags
 *   and the cancel tag: "🏴󠁧󠁢󠁳󠁣󠁴󠁿".
 * Each step is one linear regular-expression pass (the look-arounds see one character), so the
 * cost is bounded by the frame's size however many of these characters a message packs in; the
 * joiners are judged once the other invisible characters are gone, as they will be drawn.
 */
const HAS_FORMAT_CHAR = /\p{Cf}/u;
const OTHER_FORMAT_CHARS = /(?![\u200C\u200D\u{E0020}-\u{E007F}])\p{Cf}/gu;
const TAGS = /(\u{1F3F4}[\u{E0020}-\u{E007E}]{1,8}\u{E007F})|[\u{E0020}-\u{E007F}]/gu;
const LOOSE_ZWJ = /(?<![\p{Extended_Pictographic}\p{Emoji_Modifier}\p{M}])\u200D|\u200D(?![\p{Extended_Pictographic}\p{L}])/gu;
const LOOSE_ZWNJ = /(?<![\p{L}\p{M}])\u200C|\u200C(?!\p{L})/gu;

function removeFormatChars(text: string): string {
  if (!HAS_FORMAT_CHAR.test(text)) return text;
  return text
    .replace(OTHER_FORMAT_CHARS, '')
    .replace(TAGS, (_tag: string, flag: string | undefined) => flag ?? '')
    .replace(LOOSE_ZWJ, '')
    .replace(LOOSE_ZWNJ, '');
}

// A lone surrogate (JSON allows "\ud800") is not text; it becomes U+FFFD, as a decoder would show it.
const LONE_SURROGATES = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
// Anything the first three replacements act on; most messages have none and skip them.
const HAS_CONTROL = /[\u0000-\u001F\u007F-\u009F\u2028\u2029]/;

/**
 * Applies the text policy: terminal escapes and controls removed, line breaks and tabs turned into
 * spaces, invisible format characters (bidi controls, zero-width characters) removed except the
 * joiners that emoji and some scripts need, lone surrogates replaced by U+FFFD.
 */
export function sanitizeText(text: string): string {
  let flat = text;
  if (HAS_CONTROL.test(flat)) flat = flat.replace(ANSI_SEQUENCES, '').replace(LINE_BREAKS, ' ').replace(CONTROL_CHARS, '');
  return removeFormatChars(flat.replace(LONE_SURROGATES, '\uFFFD'));
}

/** Length in Unicode code points, so an emoji counts once. */
export function textLength(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}
