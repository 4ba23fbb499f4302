/**
 * A stable colour per user name, the same in the terminal and in the browser, so people are
 * easy to follow and look alike in both. Never grey: grey is the notices' colour, and a name or
 * a wrapped line of a message must not look like one. The names are blessed's; the browser
 * client maps each to a CSS class (`c-<name>`, web/public/assets/style.css).
 */
export const PALETTE = ['cyan', 'green', 'yellow', 'magenta', 'blue', 'red', 'light-cyan', 'light-green', 'light-magenta', 'light-blue'] as const;

export type Colour = (typeof PALETTE)[number];

export function colourOf(name: string): Colour {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.codePointAt(0)!) >>> 0;
  return PALETTE[h % PALETTE.length];
}
