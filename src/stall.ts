/**
 * A worker frozen for longer than a claim lives (SIGSTOP, a paused VM, a long stop-the-world
 * pause) may have lost its users' names: their claims expired, another worker's reaper announced
 * that they left, and someone else may have claimed a name. On waking it acts for nobody until
 * it has checked: requests wait, connections whose name is now held elsewhere are given up (no
 * leave, no further requests), and the users still its own are announced back in their rooms.
 *
 * A frozen process cannot notice its freeze while it lasts, and on waking the operating system
 * hands it the sockets' queued input before its timers run, so the check sits in front of every
 * request as well as in the heartbeat timer.
 */
import type { Client } from './connection';
import type { Logger } from './log';
import type { Owner, Presence } from './presence/types';

export interface StallGuardDeps {
  /** PRESENCE_TTL_MS: a freeze longer than this may have cost the claims. */
  ttlMs: number;
  presence: Presence;
  log: Logger;
  /** This worker's connections that hold a claim. */
  clients: () => Client[];
  ownerOf: (client: Client) => Owner;
  /** Closes `client` soon, without a leave: another connection holds its name. */
  giveUp: (client: Client) => void;
  /** `user` is back in `room` after everyone heard it left. */
  rejoined: (room: string, user: string, members: number) => void;
  /** Re-asserts every local claim (the presence heartbeat). */
  heartbeat: () => Promise<void>;
}

export class StallGuard {
  /** When tick() last ran. */
  private beat = Date.now();
  private check: Promise<void> | null = null;
  /** Connections whose name another connection holds now: nothing they send is acted on. */
  private readonly lost = new WeakSet<Client>();

  constructor(private readonly deps: StallGuardDeps) {}

  /**
   * Called every heartbeat interval by a timer: the process runs. After a freeze it starts the
   * check (and returns it) before anything else can act.
   */
  tick(): Promise<void> | null {
    const wait = this.gate();
    this.beat = Date.now();
    return wait;
  }

  /** Null when requests may run at once, else the check to wait for. */
  gate(): Promise<void> | null {
    if (this.check) return this.check;
    const frozenMs = Date.now() - this.beat;
    if (frozenMs <= this.deps.ttlMs) return null;
    this.beat = Date.now();
    this.check = this.recheck(frozenMs).finally(() => (this.check = null));
    return this.check;
  }

  /** Nothing `client` sends is acted on any more. */
  giveUp(client: Client): void {
    this.lost.add(client);
    this.deps.giveUp(client);
  }

  /** False for a connection that lost its name. */
  mayAct(client: Client): boolean {
    return !this.lost.has(client);
  }

  private async recheck(frozenMs: number): Promise<void> {
    const { presence, log } = this.deps;
    const clients = this.deps.clients();
    let owners: (Owner | null)[];
    try {
      owners = await Promise.all(clients.map((c) => presence.locate(c.user)));
    } catch (err) {
      // Redis is away too: nobody can claim a name meanwhile, and the heartbeat repairs the rest.
      log.warn({ err, frozenMs }, 'resumed after a freeze; cannot check the claims now');
      return;
    }
    const kept: Client[] = [];
    clients.forEach((c, i) => {
      const owner = owners[i];
      const mine = this.deps.ownerOf(c);
      if (owner && (owner.worker !== mine.worker || owner.conn !== mine.conn)) this.giveUp(c);
      else kept.push(c);
    });
    log.warn({ frozenMs, lost: clients.length - kept.length, kept: kept.length }, 'resumed after a freeze longer than the presence TTL');
    await Promise.all(
      kept.map(async (c) => {
        const room = c.room;
        if (!room || c.closed) return;
        const joined = await presence.join(c.user, room).catch(() => undefined);
        if (joined?.added) this.deps.rejoined(room, c.user, joined.members);
      }),
    );
    await this.deps.heartbeat();
  }
}
