#!/usr/bin/env node
/**
 * chatfabric-tui: the terminal client.
 *   npm run tui -- [--url ws://127.0.0.1:8080/ws] [--username NAME] [--token JWT]
 * CHATFABRIC_TOKEN is read when --token is not given (other users can read a command line in ps).
 */

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  process.stdout.write(
    'usage: chatfabric-tui [--url ws://127.0.0.1:8080/ws] [--username NAME] [--token JWT]\n' +
      '  --token JWT   for a server with authentication on (or set CHATFABRIC_TOKEN); the name then comes from the token\n',
  );
  process.exit(0);
}
// Raw mode at once, before blessed loads: keys typed from here on are neither echoed over the
// screen nor held for a whole line by the terminal, and wait unread until the view takes them.
// (What was typed before, while npm started us, comes as a cooked line; the editor reads its LF
// as Enter.)
if (process.stdin.isTTY) process.stdin.setRawMode(true);
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { runView } = require('./view') as typeof import('./view');
runView({ url: arg('url') ?? 'ws://127.0.0.1:8080/ws', username: arg('username'), token: arg('token') || process.env.CHATFABRIC_TOKEN || undefined });
