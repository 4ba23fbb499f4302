/**
 * The blessed view: renders a ChatClient's state and turns keystrokes into its calls. All chat
 * logic lives in the headless core (./core); this file only draws and reads keys.
 */
import blessed from 'blessed';
import { isValidUsername, nameList, type ChatMessage } from '../src/protocol';
import { ChatClient } from './core/client';
import { LineEditor } from './editor';
import { completeInput, runInput, type InputView } from './input';
import { colourOf, directLine, messageLine, noticeLine, shown } from './lines';

export { colourOf } from './lines';

export interface ViewOptions {
  url: string;
  username?: string;
  /** A JWT for a server with auth on; the name then comes from it and is not asked for. */
  token?: string;
}

export function runView(opts: ViewOptions): void {
  const screen = blessed.screen({ smartCSR: true, fullUnicode: true, title: 'chatfabric', dockBorders: true, autoPadding: true });
  const log = blessed.log({
    parent: screen, top: 0, left: 0, width: '100%-22', height: '100%-3', border: 'line', label: ' global ',
    tags: true, scrollable: true, alwaysScroll: true, scrollback: 5000, mouse: true,
    scrollbar: { ch: ' ', style: { bg: 'grey' } },
  });
  const rooms = blessed.box({ parent: screen, top: 0, right: 0, width: 22, height: '40%', border: 'line', label: ' rooms ', tags: true });
  const users = blessed.box({ parent: screen, top: '40%', right: 0, width: 22, height: '60%-3', border: 'line', label: ' users ', tags: true, scrollable: true });
  const status = blessed.box({ parent: screen, bottom: 1, left: 0, width: '100%', height: 1, tags: true, style: { bg: 'blue', fg: 'white' } });
  // A plain box drawn from our own line editor (./editor.ts): a blessed textbox drops keys typed
  // while it restarts reading after each Enter.
  const input = blessed.box({ parent: screen, bottom: 0, left: 0, width: '100%', height: 1, tags: true });
  const editor = new LineEditor();

  let client: ChatClient | null = null;
  let roomNames: string[] = [];
  const line = (text: string) => {
    log.log(text);
    screen.render();
  };
  // Notices are drawn only for what a frame is (welcome, joined, presence, gap, error), never for who sent it.
  const system = (text: string) => line(noticeLine(text));
  const showMessage = (m: ChatMessage) => line(messageLine(m));

  const drawStatus = () => {
    if (!client) return;
    const state = client.state === 'open' ? '{green-fg}connected{/green-fg}' : `{yellow-fg}${client.state}{/yellow-fg}`;
    const rtt = client.rtt === null ? '-' : `${client.rtt.toFixed(0)} ms`;
    status.setContent(` ${shown(client.username)} in ${shown(client.room)} | ${state} | rtt ${rtt} | worker ${shown(client.worker || '-')}/${shown(client.shard || '-')} | ${shown(opts.url)}`);
    screen.render();
  };
  const drawUsers = () => {
    if (!client) return;
    const named = [...client.members].sort().map((u) => `{${colourOf(u)}-fg}${shown(u)}{/${colourOf(u)}-fg}`);
    // A large room's notices name only a few users; the count says how many there are.
    const more = client.memberCount - client.members.size;
    users.setContent([...named, ...(more > 0 ? [`{grey-fg}+${more} more{/grey-fg}`] : [])].join('\n'));
    screen.render();
  };
  const refreshRooms = async () => {
    if (!client || client.state !== 'open') return;
    try {
      const list = await client.rooms();
      roomNames = list.map((r) => r.name);
      rooms.setContent(list.map((r) => `${r.name === client!.room ? '{bold}> ' : '  '}${shown(r.name)} (${shown(r.users)})${r.name === client!.room ? '{/bold}' : ''}`).join('\n'));
      screen.render();
    } catch {
      // shown again on the next refresh
    }
  };
  let roomsTimer: NodeJS.Timeout | null = null;
  const refreshRoomsSoon = () => {
    if (roomsTimer) return;
    roomsTimer = setTimeout(() => {
      roomsTimer = null;
      void refreshRooms();
    }, 300);
  };

  const start = (name?: string) => {
    const c = new ChatClient({ url: opts.url, username: name, token: opts.token });
    client = c;
    // With a token and no --username the server names us; c.username holds it once welcomed.
    const me = () => c.username;
    c.on('state', (state: string, detail?: string) => {
      // The core reports 'reconnecting' with the delay when it schedules a retry, and again (no detail) when it dials.
      if (state === 'reconnecting' && detail) system(`connection lost; reconnecting (${detail})`);
      drawStatus();
    });
    c.on('welcome', () => {
      system(`connected to worker ${c.worker} (shard ${c.shard}) as ${me()}`);
      drawStatus();
    });
    c.on('joined', (room: string) => {
      log.setLabel(` ${shown(room)} `);
      system(`you are in ${room}`);
      drawStatus();
      refreshRoomsSoon();
    });
    c.on('message', (m: ChatMessage) => {
      if (m.room === c.room) showMessage(m);
    });
    c.on('gap', (_room: string, gap: { from: number; to: number }) => system(`${gap.to - gap.from + 1} older messages are no longer kept`));
    c.on('user_joined', (f: { user: string; room: string }) => {
      if (f.user !== me() && f.room === c.room) system(`${f.user} joined`);
      refreshRoomsSoon();
    });
    c.on('user_left', (f: { user: string; room: string }) => {
      if (f.user !== me() && f.room === c.room) system(`${f.user} left`);
      refreshRoomsSoon();
    });
    c.on('presence_batch', (f: { room: string; joined: string[]; joinedCount: number; left: { user: string }[]; leftCount: number }) => {
      if (f.room !== c.room) return;
      const self = f.joined.includes(me()) ? 1 : 0;
      if (f.joinedCount - self > 0) system(`${nameList(f.joined.filter((u) => u !== me()), f.joinedCount - self)} joined`);
      if (f.leftCount > 0) system(`${nameList(f.left.map((l) => l.user), f.leftCount)} left`);
      refreshRoomsSoon();
    });
    c.on('presence', drawUsers);
    c.on('direct', (m: { from: string; to: string; text: string; ts: string }) => line(directLine(m)));
    c.on('server_error', (e: { message: string }) => system(`error: ${e.message}`));
    c.on('closed', (code: number, reason: string) => {
      if (code === 4001 && opts.token) system(`the name "${me()}" of your token is in use elsewhere; disconnected`);
      else if (code === 4001) {
        system(`the name "${me()}" is taken; choose another`);
        askName();
      } else if (code === 4005) system('this session continued in another window; disconnected');
      else if (code === 4008) system('your token expired; start again with a new one (--token or CHATFABRIC_TOKEN)');
      else if (c.state === 'closed' && code !== 1000) system(`disconnected: ${c.refusal ?? (reason || code)}`);
    });
    c.connect().catch((err: Error) => {
      // Refused before the upgrade: the name breaks the rule or is reserved on this server.
      if (/^HTTP 400/.test(err.message) && !opts.token) {
        system(`the server refused the name "${me()}" (invalid or reserved); choose another`);
        askName();
      }
    });
    setInterval(() => {
      if (c.state === 'open') c.ping().then(drawStatus, () => undefined);
    }, 5000).unref();
    setInterval(() => void refreshRooms(), 10_000).unref();
    drawStatus();
  };

  const inputView: InputView = {
    notice: system,
    waiting: () => {
      system('not connected yet: this line goes out once connected');
      return () => undefined;
    },
    directSent: (to, text) => line(directLine({ from: 'you', to, text })),
    helpLine: (usage, help) => `${usage.padEnd(20)} ${help}`,
    keysHelp: 'PgUp/PgDn scroll, Up/Down input history, Tab completes, Ctrl-C quits',
    failed: (message) => system(`error: ${message}`),
    quit: () => quit(),
  };
  const run = (text: string) => (client ? runInput(client, text, inputView) : Promise.resolve());

  const drawInput = () => {
    const { text, column } = editor.view((screen.width as number) || 80);
    const chars = [...text];
    const at = chars[column] ?? ' ';
    input.setContent(`${blessed.escape(chars.slice(0, column).join(''))}{inverse}${blessed.escape(at)}{/inverse}${blessed.escape(chars.slice(column + 1).join(''))}`);
    screen.render();
  };
  let asking = false;
  const askName = () => {
    asking = true;
    client = null;
    editor.set('');
    status.setContent(' choose a username (letters, digits, _ or -) and press Enter');
    drawInput();
  };

  const submit = (line: string) => {
    if (asking) {
      // Exactly what was typed: a name is never trimmed or changed into another one.
      if (!isValidUsername(line)) {
        status.setContent(` invalid username ${JSON.stringify(shown(line))}: 1-32 letters, digits, _ or -; try again`);
        screen.render();
        return;
      }
      asking = false;
      start(line);
      return;
    }
    const text = line.trim();
    if (!text) return;
    editor.remember(text);
    void run(text);
  };
  // Every key of the screen, from the first one: the editor never stops listening, so keys
  // typed before the interface was drawn or right after an Enter reach it in order.
  screen.on('keypress', (ch: string | undefined, key: { name?: string; ctrl?: boolean; meta?: boolean; full?: string }) => {
    if (key.full === 'C-c') return;
    if (key.name === 'pageup' || key.name === 'pagedown') {
      log.scroll((key.name === 'pageup' ? -1 : 1) * Math.max(1, (log.height as number) - 3));
      screen.render();
      return;
    }
    const ev = editor.key(ch, key);
    if (ev.kind === 'submit') submit(ev.line);
    else if (ev.kind === 'complete' && !asking) editor.set(completeInput(editor.value, { rooms: roomNames, users: client ? [...client.members] : [] }));
    if (ev.kind !== 'ignored') drawInput();
  });
  const quit = () => {
    client?.close();
    screen.destroy();
    process.exit(0);
  };
  screen.key(['C-c'], quit);
  screen.on('resize', () => screen.render());

  if (opts.username || opts.token) start(opts.username);
  else askName();
  drawInput();
}
