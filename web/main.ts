/**
 * The browser client. All chat logic (protocol, reconnect, resume, deduplication) is the
 * terminal client's headless core (tui/core/chat-client.ts) and its input handling
 * (tui/input.ts: the grammar, completion, runInput); this file only draws the DOM and reads the keyboard, as tui/view.ts does for
 * blessed. Everything from the network is drawn with textContent, never as HTML.
 */
import { ChatClient, type ConnectionState } from '../tui/core/chat-client.js';
import { hhmm, timeOf } from '../tui/core/clock.js';
import { colourOf } from '../tui/core/colour.js';
import { COMMAND_NAMES, completeInput, runInput, type InputView } from '../tui/input.js';
import { COMMANDS, DEFAULT_ROOM, isValidUsername, nameList, sanitizeText, type ChatMessage, type RoomSummary } from '../src/protocol/index.js';

/** What GET /client.json says about this server (src/web.ts). */
interface Settings {
  auth: 'none' | 'jwt';
  room: string;
}

/** Lines kept per room: older ones are dropped from the page (the server keeps the history). */
const MAX_LINES = 2000;
/** Failed attempts before the first welcome after which the page says what may be wrong. */
const HINT_AFTER_ATTEMPTS = 3;
const SAVED = 'chatfabric.session';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Text from the network, safe to show: one line, nothing hidden or reordered (the server's own policy). */
const shown = (text: unknown) => sanitizeText(typeof text === 'string' ? text : String(text ?? ''));

function clockOf(ts?: string): { label: string; iso: string } {
  const d = timeOf(ts);
  return { label: hhmm(d), iso: d.toISOString() };
}

async function loadSettings(): Promise<Settings> {
  try {
    const res = await fetch('/client.json', { cache: 'no-store' });
    const s = (await res.json()) as Partial<Settings>;
    return { auth: s.auth === 'jwt' ? 'jwt' : 'none', room: typeof s.room === 'string' ? s.room : DEFAULT_ROOM };
  } catch {
    return { auth: 'none', room: DEFAULT_ROOM };
  }
}

class App {
  private client: ChatClient | null = null;
  private readonly logs = new Map<string, HTMLElement>();
  /** The room shown. */
  private room = '';
  /** The room the server last said we joined. */
  private joined = '';
  private roomList: RoomSummary[] = [];
  private readonly sent: string[] = [];
  private sentAt = 0;
  private roomsTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly timers: ReturnType<typeof setInterval>[] = [];
  private failedBeforeWelcome = 0;
  private welcomedOnce = false;
  private lostNoticeShown = false;

  /** The cluster's WebSocket endpoint, on the host that served this page. */
  private readonly wsUrl = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`;

  constructor(private readonly settings: Settings) {
    $('token-row').hidden = settings.auth !== 'jwt';
    // With a token the server takes the name from it; a name typed as well must match it.
    $('name-row').hidden = settings.auth === 'jwt';
    $('login-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.submitLogin();
    });
    $('compose').addEventListener('submit', (e) => {
      e.preventDefault();
      this.submitInput();
    });
    $('join-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const input = $<HTMLInputElement>('join-room');
      const room = input.value.trim();
      input.value = '';
      if (room) void this.run(`/join ${room}`);
    });
    $('sign-out').addEventListener('click', () => this.signOut());
    $('toggle-side').addEventListener('click', () => this.toggleSide());
    const input = $<HTMLInputElement>('input');
    input.addEventListener('keydown', (e) => this.onKey(e));
    input.addEventListener('input', () => this.suggest());
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && $('side').classList.contains('open')) {
        this.toggleSide(false);
        input.focus();
      }
    });
  }

  /** A page reload within the presence TTL takes the same session over: nothing is announced. */
  resume(): boolean {
    if (this.settings.auth === 'jwt') return false;
    try {
      const saved = JSON.parse(sessionStorage.getItem(SAVED) ?? 'null') as { name?: string; session?: string } | null;
      if (saved?.name && isValidUsername(saved.name)) {
        this.start(saved.name, undefined, saved.session);
        return true;
      }
    } catch {
      // nothing saved, or storage is off: ask for a name
    }
    return false;
  }

  showLogin(error = ''): void {
    $('chat').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = error;
    const field = this.settings.auth === 'jwt' ? $<HTMLInputElement>('token') : $<HTMLInputElement>('name');
    field.focus();
  }

  private submitLogin(): void {
    const name = $<HTMLInputElement>('name').value;
    const token = $<HTMLInputElement>('token').value.trim();
    if (this.settings.auth === 'jwt') {
      if (!token) return this.showLogin('a token is required on this server');
      return this.start(undefined, token);
    }
    // Exactly what was typed: a name is never trimmed or changed into another one.
    if (!isValidUsername(name)) return this.showLogin('invalid username: use 1-32 letters, digits, _ or -');
    this.start(name);
  }

  private start(name: string | undefined, token?: string, session?: string): void {
    this.stop();
    this.failedBeforeWelcome = 0;
    this.welcomedOnce = false;
    const c = new ChatClient({ url: this.wsUrl, username: name, token, session, room: this.settings.room });
    this.client = c;
    $('login').hidden = true;
    $('chat').hidden = false;
    // The first room's log shows at once, so what is said before the welcome is seen.
    this.show(this.settings.room);
    $('input').focus();
    const me = () => c.username;

    c.on('state', (state: ConnectionState, detail?: string) => {
      if (state === 'reconnecting' && detail) {
        if (!this.welcomedOnce && ++this.failedBeforeWelcome === HINT_AFTER_ATTEMPTS) {
          this.notice('cannot connect yet: the server may be starting, or it refused this page\'s origin, the name or the token (a browser is not told which). Still trying; sign out to change them.');
        } else if (this.welcomedOnce && !this.lostNoticeShown) {
          this.lostNoticeShown = true;
          this.notice('connection lost; reconnecting');
        }
      }
      this.drawConn();
    });
    c.on('welcome', () => {
      if (name && !token) this.save(name, c.session);
      if (this.welcomedOnce) this.notice(`reconnected (worker ${shown(c.worker)})`);
      this.welcomedOnce = true;
      this.lostNoticeShown = false;
      this.drawConn();
    });
    c.on('joined', (room: string) => {
      this.show(room);
      // Said on entering a room, not again when a reconnect resumes it.
      if (room !== this.joined) this.notice(`you are in ${shown(room)} as ${shown(me())}`, room);
      this.joined = room;
      this.drawMembers();
      this.refreshRoomsSoon();
    });
    c.on('message', (m: ChatMessage, meta: { own: boolean; replay: boolean }) => this.message(m, meta));
    c.on('gap', (room: string, gap: { from: number; to: number }) => this.notice(`${gap.to - gap.from + 1} older messages are no longer kept`, room));
    c.on('reset', (room: string) => this.notice('the history of this room was reset', room));
    c.on('user_joined', (f: { user: string; room: string }) => {
      if (f.user !== me() && f.room === c.room) this.notice(`${shown(f.user)} joined`);
      this.refreshRoomsSoon();
    });
    c.on('user_left', (f: { user: string; room: string }) => {
      if (f.user !== me() && f.room === c.room) this.notice(`${shown(f.user)} left`);
      this.refreshRoomsSoon();
    });
    c.on('presence_batch', (f: { room: string; joined: string[]; joinedCount: number; left: { user: string }[]; leftCount: number }) => {
      if (f.room !== c.room) return;
      const self = f.joined.includes(me()) ? 1 : 0;
      if (f.joinedCount - self > 0) this.notice(`${shown(nameList(f.joined.filter((u) => u !== me()), f.joinedCount - self))} joined`);
      if (f.leftCount > 0) this.notice(`${shown(nameList(f.left.map((l) => l.user), f.leftCount))} left`);
      this.refreshRoomsSoon();
    });
    c.on('presence', () => this.drawMembers());
    c.on('direct', (m: { from: string; to: string; text: string; ts: string }) => this.direct(m.from, 'you', m.text, m.ts));
    c.on('server_error', (e: { message: string }) => this.notice(`error: ${shown(e.message)}`));
    c.on('closed', (code: number) => {
      if (code === 4001) {
        this.forget();
        this.showLogin(token ? `the name of your token is in use elsewhere` : `the name "${name}" is taken; choose another`);
      } else if (code === 4005) {
        this.notice('this session continued in another window or tab; disconnected');
      } else if (code === 4008) {
        this.showLogin('your token expired; paste a new one');
      }
      this.drawConn();
    });
    void c.connect().catch((err: Error) => {
      // A close handled above (a taken name, an expired token) has already said why.
      if ($('login').hidden) this.showLogin(`the server refused: ${shown(err.message)}`);
    });
    this.timers.push(
      setInterval(() => {
        if (c.state === 'open') c.ping().then(() => this.drawConn(), () => undefined);
      }, 5000),
      setInterval(() => void this.refreshRooms(), 10_000),
    );
    this.drawConn();
  }

  private stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers.length = 0;
    this.client?.close();
    this.client = null;
    for (const log of this.logs.values()) log.remove();
    this.logs.clear();
    this.room = '';
    this.joined = '';
  }

  private signOut(): void {
    this.stop();
    this.forget();
    this.showLogin();
  }

  private save(name: string, session: string): void {
    try {
      sessionStorage.setItem(SAVED, JSON.stringify({ name, session }));
    } catch {
      // storage off: a reload asks for the name again
    }
  }

  private forget(): void {
    try {
      sessionStorage.removeItem(SAVED);
    } catch {
      // nothing to forget
    }
  }

  // ------------------------------------------------------------------ drawing

  /** The log of `room`, made on first use; only the current room's is visible (and live for screen readers). */
  private logOf(room: string): HTMLElement {
    let log = this.logs.get(room);
    if (!log) {
      log = el('div', 'log');
      log.setAttribute('role', 'log');
      log.setAttribute('aria-label', `Messages in ${room}`);
      log.tabIndex = 0;
      log.dataset.room = room;
      log.hidden = room !== this.room;
      $('logs').append(log);
      this.logs.set(room, log);
    }
    return log;
  }

  private show(room: string): void {
    this.room = room;
    const log = this.logOf(room);
    for (const l of this.logs.values()) l.hidden = l !== log;
    $('room-title').textContent = room;
    document.title = `${room} · chatfabric`;
    log.scrollTop = log.scrollHeight;
  }

  private append(room: string, line: HTMLElement): void {
    const log = this.logOf(room);
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    log.append(line);
    while (log.childElementCount > MAX_LINES) log.firstElementChild!.remove();
    if (atBottom) log.scrollTop = log.scrollHeight;
  }

  private line(cls: string, ts?: string): HTMLElement {
    const line = el('div', `line ${cls}`);
    const { label, iso } = clockOf(ts);
    const time = el('time', undefined, label);
    time.dateTime = iso;
    line.append(time);
    return line;
  }

  private notice(text: string, room = this.room || this.settings.room): void {
    const line = this.line('notice');
    line.append(el('span', 'text', text));
    this.append(room, line);
  }

  private message(m: ChatMessage, meta: { own: boolean; replay: boolean }): void {
    const line = this.line(`message${meta.own ? ' own' : ''}${meta.replay ? ' replay' : ''}`, m.ts);
    if (m.id !== null) line.dataset.id = String(m.id);
    line.append(el('span', `from c-${colourOf(m.from)}`, shown(m.from)), el('span', 'text', shown(m.text)));
    this.append(m.room, line);
  }

  /** A line of the user's that waits for the connection, until it is sent (then drawn as a message) or fails. */
  private pendingLine(text: string): HTMLElement {
    const line = this.line('pending');
    line.append(el('span', 'from', 'you'), el('span', 'text', shown(text)), el('span', 'state', 'waiting for the connection…'));
    this.append(this.room || this.settings.room, line);
    return line;
  }

  private direct(from: string, to: string, text: string, ts?: string): void {
    const line = this.line('direct', ts);
    line.append(el('span', 'via', `${shown(from)} → ${shown(to)}`), el('span', 'text', shown(text)));
    this.append(this.room || this.settings.room, line);
  }

  private drawConn(): void {
    const c = this.client;
    const conn = $('conn');
    if (!c) return;
    conn.dataset.state = c.state;
    conn.dataset.worker = c.worker;
    const words: Record<ConnectionState, string> = { connecting: 'connecting…', open: 'connected', reconnecting: 'reconnecting…', closed: 'disconnected' };
    const rtt = c.state === 'open' && c.rtt !== null ? ` · ${c.rtt.toFixed(0)} ms` : '';
    conn.textContent = `${words[c.state]}${rtt}`;
    conn.title = c.worker ? `worker ${c.worker}, shard ${c.shard}` : '';
  }

  private drawMembers(): void {
    const c = this.client;
    if (!c) return;
    const list = $('members');
    const named = [...c.members].sort();
    const items = named.map((u) => {
      const li = el('li');
      const b = el('button');
      b.type = 'button';
      b.append(el('span', `c-${colourOf(u)}`, shown(u)));
      b.title = `send ${u} a direct message`;
      b.addEventListener('click', () => this.prefill(`/msg ${u} `));
      li.append(b);
      return li;
    });
    // A large room's notices name only some members; the count says how many there are.
    const more = c.memberCount - named.length;
    if (more > 0) items.push(el('li', 'more', `+${more} more`));
    list.replaceChildren(...items);
    $('member-count').textContent = `(${Math.max(c.memberCount, named.length)})`;
  }

  private drawRooms(): void {
    const items = this.roomList.map((r) => {
      const li = el('li');
      const b = el('button');
      b.type = 'button';
      b.append(el('span', undefined, shown(r.name)), el('span', 'count', String(r.users)));
      b.setAttribute('aria-label', `${r.name}, ${r.users} ${r.users === 1 ? 'person' : 'people'}`);
      if (r.name === this.room) b.setAttribute('aria-current', 'true');
      b.addEventListener('click', () => {
        this.toggleSide(false);
        if (r.name !== this.room) void this.run(`/join ${r.name}`);
        $('input').focus();
      });
      li.append(b);
      return li;
    });
    $('rooms').replaceChildren(...items);
  }

  private async refreshRooms(): Promise<void> {
    const c = this.client;
    if (!c || c.state !== 'open') return;
    try {
      this.roomList = await c.rooms();
      this.drawRooms();
    } catch {
      // drawn again on the next refresh
    }
  }

  private refreshRoomsSoon(): void {
    if (this.roomsTimer) return;
    this.roomsTimer = setTimeout(() => {
      this.roomsTimer = null;
      void this.refreshRooms();
    }, 300);
  }

  private toggleSide(open?: boolean): void {
    const side = $('side');
    const now = side.classList.toggle('open', open);
    $('toggle-side').setAttribute('aria-expanded', String(now));
    if (now) side.querySelector<HTMLElement>('button')?.focus();
  }

  // ------------------------------------------------------------------ input

  private prefill(text: string): void {
    const input = $<HTMLInputElement>('input');
    input.value = text;
    this.toggleSide(false);
    input.focus();
    this.suggest();
  }

  private submitInput(): void {
    const input = $<HTMLInputElement>('input');
    const text = input.value.trim();
    if (!text) return;
    input.value = '';
    this.suggest();
    this.sent.push(text);
    this.sentAt = this.sent.length;
    void this.run(text);
  }

  private onKey(e: KeyboardEvent): void {
    const input = e.currentTarget as HTMLInputElement;
    if (e.key === 'Tab' && !e.shiftKey && !e.altKey && !e.ctrlKey) {
      // Tab completes when there is something to complete, and moves focus otherwise (keyboard users need both).
      const done = completeInput(input.value, { rooms: this.roomList.map((r) => r.name), users: this.client ? [...this.client.members] : [] });
      if (done !== input.value) {
        e.preventDefault();
        input.value = done;
        this.suggest();
      }
    } else if ((e.key === 'ArrowUp' || e.key === 'ArrowDown') && this.sent.length) {
      e.preventDefault();
      this.sentAt = Math.max(0, Math.min(this.sent.length, this.sentAt + (e.key === 'ArrowUp' ? -1 : 1)));
      input.value = this.sent[this.sentAt] ?? '';
    }
  }

  /** Below the input: the commands that match what is typed, with their usage. */
  private suggest(): void {
    const value = $<HTMLInputElement>('input').value;
    const word = value.split(' ')[0].toLowerCase();
    let hint = '';
    if (value.startsWith('/') && !value.startsWith('//')) {
      const typingName = !value.includes(' ');
      const hits = COMMANDS.filter((c) => (typingName ? `/${c.name}`.startsWith(word) : `/${c.name}` === word));
      hint = hits.length ? hits.map((c) => `${c.usage}: ${c.help}`).join(' · ') : `no such command; try ${COMMAND_NAMES.join(' ')}`;
      if (typingName && hits.length > 1) hint += ' (Tab completes)';
    }
    $('suggest').textContent = hint;
  }

  /** How this page shows what a typed line gives; what the line does is runInput's (tui/input.ts), as in the terminal. */
  private readonly inputView: InputView = {
    notice: (text) => this.notice(shown(text)),
    // Shown as waiting until it went out (then drawn as a message) or failed.
    waiting: (text) => {
      const pending = this.pendingLine(text);
      return () => pending.remove();
    },
    directSent: (to, text) => this.direct('you', to, text),
    rooms: (list) => {
      this.roomList = list;
      this.drawRooms();
    },
    helpLine: (usage, help) => `${usage}: ${help}`,
    keysHelp: 'Enter sends, Tab completes, Up/Down recall what you sent, Esc closes the side panel',
    // A line in flight when the connection dropped may or may not have been stored: say which
    // line, and that the resume shows it if it was (it is not sent again, which could double it).
    failed: (message, line) =>
      this.notice(`error: ${shown(message)}${line === undefined ? '' : ` (your line "${shown(line)}" may not have been sent; if it was, it shows once reconnected)`}`),
    quit: () => this.signOut(),
  };

  private run(text: string): Promise<void> {
    return this.client ? runInput(this.client, text, this.inputView) : Promise.resolve();
  }
}

void loadSettings().then((settings) => {
  const app = new App(settings);
  if (!app.resume()) app.showLogin();
});
