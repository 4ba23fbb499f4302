/** Message times, drawn alike by the terminal and the browser client. */

/** The time of a server timestamp: now when it is absent or unreadable. */
export function timeOf(ts?: string): Date {
  const parsed = ts ? new Date(ts) : new Date();
  return Number.isNaN(parsed.getTime()) ? new Date() : parsed;
}

/** HH:MM, local time. */
export function hhmm(d: Date): string {
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}
