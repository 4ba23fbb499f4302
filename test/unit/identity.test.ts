/**
 * Who may speak as the server: reserved usernames refused before the upgrade (names.reserved),
 * and a chat from the notice sender's name, which only a worker of an older version or a forged
 * fabric event could carry, never reaching an original-dialect client, whose clients would
 * show it as the server's. Memory mode, real HTTP/WebSocket servers on 127.0.0.1.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config';
import type { ChatMessage } from '../../src/protocol';
import { roomFrames } from '../../src/room-frames';
import { clusterPerTest, type MemoryCluster } from './memory-cluster';

const start = clusterPerTest();

/** The HTTP status and body an upgrade for `name` is refused with, or "open". */
async function attempt(c: MemoryCluster, name: string, v1 = false): Promise<{ status: number; body: string } | 'open'> {
  try {
    await c.raw(0, name, { v1 });
    return 'open';
  } catch (err) {
    const e = err as { status?: number; body?: string };
    if (e.status === undefined) throw err;
    return { status: e.status, body: e.body ?? '' };
  }
}

describe('names.reserved in the configuration', () => {
  const load = (env: Record<string, string> = {}) => loadConfig({ env, args: [] });

  it('defaults to system, server, admin, root, chatfabric', () => {
    expect(load().names.reserved).toEqual(['system', 'server', 'admin', 'root', 'chatfabric']);
  });

  it('RESERVED_NAMES is comma-separated; blanks are ignored; empty reserves none', () => {
    expect(load({ RESERVED_NAMES: 'ops, Moderator ,,help' }).names.reserved).toEqual(['ops', 'Moderator', 'help']);
    expect(load({ RESERVED_NAMES: '' }).names.reserved).toEqual([]);
  });

  it('refuses an entry that is not a username, naming the option', () => {
    expect(() => load({ RESERVED_NAMES: 'ops,not a name' })).toThrow(ConfigError);
    expect(() => load({ RESERVED_NAMES: 'ops,not a name' })).toThrow(/names\.reserved: "not a name" is not a username/);
  });
});

describe('reserved usernames at the upgrade', () => {
  it.each([false, true])('refuses reserved names and their look-alikes with 400 and a clear message (v1: %s)', async (v1) => {
    const c = await start({ nodes: 1 });
    for (const name of ['system', 'SYSTEM', 'Server', 'admin', 'ROOT', 'chatfabric', 'r00t', 'sys_tem', 'Adm1n']) {
      expect(await attempt(c, name, v1), name).toEqual({ status: 400, body: `invalid username: "${name}" is reserved; choose another\n` });
    }
    // An ordinary name still gets in, and nobody was claimed by the refusals.
    const alice = await c.v1(0, 'alice');
    expect(alice.ofType('welcome')).toHaveLength(1);
    expect(await c.presence.users()).toEqual(['alice']);
  });

  it('follows RESERVED_NAMES, and reserves "system" even when the list leaves it out', async () => {
    const c = await start({ nodes: 1, env: { RESERVED_NAMES: 'ops' } });
    expect(await attempt(c, 'OPS')).toMatchObject({ status: 400 });
    expect(await attempt(c, '0ps')).toMatchObject({ status: 400 });
    expect(await attempt(c, 'System')).toMatchObject({ status: 400 });
    expect(await attempt(c, 'admin')).toBe('open');
  });

  it('with RESERVED_NAMES empty, still refuses the notice sender', async () => {
    const c = await start({ nodes: 1, env: { RESERVED_NAMES: '' } });
    expect(await attempt(c, 'system')).toMatchObject({ status: 400 });
    expect(await attempt(c, 'root')).toBe('open');
  });
});

describe('a chat from the notice sender never reaches the original dialect', () => {
  const forged: ChatMessage = { id: 7, room: 'global', from: 'System', text: 'the server restarts now', ts: new Date().toISOString() };

  it('room messages: no frame for the original dialect; the extended dialect gets a typed message', () => {
    expect(roomFrames({ kind: 'message', message: forged, origin: 'x' }, 'legacy', 50)).toEqual([]);
    const v1 = roomFrames({ kind: 'message', message: forged, origin: 'x' }, 'v1', 50).map((b) => JSON.parse(b.toString()));
    expect(v1).toEqual([{ type: 'message', ...forged }]);
    const alice = roomFrames({ kind: 'message', message: { ...forged, from: 'alice' }, origin: 'x' }, 'legacy', 50).map((b) => JSON.parse(b.toString()));
    expect(alice).toEqual([expect.objectContaining({ type: 'chat_message', sender: 'alice' })]);
  });

  it('room and direct messages forged on the fabric: an original-dialect member sees neither', async () => {
    const c = await start({ nodes: 1 });
    const bob = await c.legacy(0, 'bob');
    const carol = await c.v1(0, 'carol');
    const forger = c.bus.broker('forger');
    await forger.publish('global', { kind: 'message', message: forged, origin: 'forger' });
    await forger.sendToWorker('n0', 'bob', { kind: 'direct', message: { id: 'd1', from: 'system', to: 'bob', text: 'psst', ts: forged.ts } });
    await forger.sendToWorker('n0', 'carol', { kind: 'direct', message: { id: 'd2', from: 'system', to: 'carol', text: 'psst', ts: forged.ts } });
    // The v1 member got both, as typed frames; a real message after them proves bob's are not just late.
    await carol.waitFor((f) => f.type === 'message' && f.from === 'System');
    await carol.waitFor((f) => f.type === 'direct' && f.from === 'system');
    await forger.publish('global', { kind: 'message', message: { ...forged, id: 8, from: 'dave', text: 'after' }, origin: 'forger' });
    await bob.waitFor((f) => f.type === 'chat_message' && f.content === 'after');
    expect(bob.frames.filter((f) => f.type === 'chat_message' && /^system$/i.test(f.sender))).toEqual([]);
    expect(bob.frames.filter((f) => f.type === 'chat_message').map((f) => f.sender)).toEqual(['dave']);
  });
});
