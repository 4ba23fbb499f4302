/**
 * The lines the terminal client draws, as blessed-tagged strings. Pure, so the rendering rules
 * are unit-tested: server notices come only from what the frame is (the view calls notice() for
 * welcome, joins, leaves, gaps and errors), never from a sender's name, and everything from the
 * network passes the text policy (src/protocol/text.ts) again, since a server of another version
 * may not have applied it.
 */
import blessed from 'blessed';
import { sanitizeText, type ChatMessage } from '../src/protocol';
import { hhmm, timeOf } from './core/clock';
import { colourOf } from './core/colour';

export { colourOf } from './core/colour';

/** Text from the network, safe to draw: one line, nothing hidden or reordered, no blessed tags. */
export function shown(text: unknown): string {
  return blessed.escape(sanitizeText(typeof text === 'string' ? text : String(text ?? '')));
}

/** HH:MM of a server timestamp (now when absent or unreadable). */
export function clock(ts?: string): string {
  return hhmm(timeOf(ts));
}

/** A server notice (or the client's own): grey from end to end, marked with `*`. */
export function noticeLine(text: string, ts?: string): string {
  return `{grey-fg}${clock(ts)} * ${shown(text)}{/grey-fg}`;
}

/** A chat message: grey time, the sender bold in their colour, the text in the default colour. */
export function messageLine(m: Pick<ChatMessage, 'from' | 'text' | 'ts'>): string {
  const colour = colourOf(m.from);
  return `{grey-fg}${clock(m.ts)}{/grey-fg} {${colour}-fg}{bold}${shown(m.from)}{/bold}{/${colour}-fg} ${shown(m.text)}`;
}

/** A direct message, to or from you. */
export function directLine(m: { from: string; to: string; text: string; ts?: string }): string {
  return `{grey-fg}${clock(m.ts)}{/grey-fg} {magenta-fg}[direct] ${shown(m.from)} → ${shown(m.to)}:{/magenta-fg} ${shown(m.text)}`;
}
