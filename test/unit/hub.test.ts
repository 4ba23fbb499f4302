/**
 * Hub: a worker's bookkeeping of who is here and who is in which room. No I/O, so the
 * clients are stand-ins with just the field the hub reads.
 */
import { describe, expect, it } from 'vitest';
import type { Client } from '../../src/connection';
import { Hub } from '../../src/hub';

let seq = 0;
function fake(user: string): Client {
  return { user, key: `w/${++seq}`, memberOf: new Set<string>() } as unknown as Client;
}

describe('Hub users', () => {
  it('add registers a client under its name; get, size and clients see it', () => {
    const hub = new Hub();
    const alice = fake('alice');
    const bob = fake('bob');
    expect(hub.size).toBe(0);
    expect(hub.add(alice)).toBeUndefined();
    expect(hub.add(bob)).toBeUndefined();
    expect(hub.size).toBe(2);
    expect(hub.get('alice')).toBe(alice);
    expect(hub.get('bob')).toBe(bob);
    expect(hub.get('carol')).toBeUndefined();
    expect([...hub.clients()]).toEqual([alice, bob]);
  });

  it('adding the same client twice displaces nobody', () => {
    const hub = new Hub();
    const alice = fake('alice');
    hub.add(alice);
    expect(hub.add(alice)).toBeUndefined();
    expect(hub.size).toBe(1);
  });

  it('a second client with the same name displaces the first and is returned', () => {
    const hub = new Hub();
    const old = fake('alice');
    const fresh = fake('alice');
    hub.add(old);
    expect(hub.add(fresh)).toBe(old);
    expect(hub.get('alice')).toBe(fresh);
    expect(hub.size).toBe(1);
  });

  it('removing the displaced client leaves the newer holder alone', () => {
    const hub = new Hub();
    const old = fake('alice');
    const fresh = fake('alice');
    hub.add(old);
    hub.add(fresh);
    expect(hub.remove(old)).toBe(false);
    expect(hub.get('alice')).toBe(fresh);
    expect(hub.size).toBe(1);
    expect(hub.remove(fresh)).toBe(true);
    expect(hub.get('alice')).toBeUndefined();
    expect(hub.size).toBe(0);
  });

  it('remove of an unknown client, or twice, returns false', () => {
    const hub = new Hub();
    const alice = fake('alice');
    expect(hub.remove(alice)).toBe(false);
    hub.add(alice);
    expect(hub.remove(alice)).toBe(true);
    expect(hub.remove(alice)).toBe(false);
  });
});

describe('Hub rooms', () => {
  it('join returns true only for the first member of a room', () => {
    const hub = new Hub();
    const a = fake('a');
    const b = fake('b');
    expect(hub.hasRoom('dev')).toBe(false);
    expect(hub.join(a, 'dev')).toBe(true);
    expect(hub.join(b, 'dev')).toBe(false);
    expect(hub.join(a, 'dev')).toBe(false); // again: already a member
    expect(hub.join(b, 'ops')).toBe(true);
    expect(hub.hasRoom('dev')).toBe(true);
    expect(hub.roomCount).toBe(2);
  });

  it('leave returns true only when the last member leaves, and forgets the room', () => {
    const hub = new Hub();
    const a = fake('a');
    const b = fake('b');
    hub.join(a, 'dev');
    hub.join(b, 'dev');
    expect(hub.leave(a, 'dev')).toBe(false);
    expect(hub.hasRoom('dev')).toBe(true);
    expect(hub.leave(b, 'dev')).toBe(true);
    expect(hub.hasRoom('dev')).toBe(false);
    expect(hub.members('dev')).toBeUndefined();
    expect(hub.roomCount).toBe(0);
  });

  it('leave by a non-member, or of an unknown room, returns false and changes nothing', () => {
    const hub = new Hub();
    const a = fake('a');
    const b = fake('b');
    hub.join(a, 'dev');
    expect(hub.leave(b, 'dev')).toBe(false);
    expect(hub.leave(a, 'nowhere')).toBe(false);
    expect([...(hub.members('dev') ?? [])]).toEqual([a]);
    // Leaving twice: the second is a no-op.
    expect(hub.leave(a, 'dev')).toBe(true);
    expect(hub.leave(a, 'dev')).toBe(false);
  });

  it('a room can be rejoined after it emptied, and is "first" again', () => {
    const hub = new Hub();
    const a = fake('a');
    hub.join(a, 'dev');
    hub.leave(a, 'dev');
    expect(hub.join(a, 'dev')).toBe(true);
  });

  it('members lists exactly the clients in the room; two clients of one name are two members', () => {
    const hub = new Hub();
    const old = fake('alice');
    const fresh = fake('alice');
    const bob = fake('bob');
    hub.join(old, 'dev');
    hub.join(fresh, 'dev');
    hub.join(bob, 'ops');
    expect(new Set(hub.members('dev'))).toEqual(new Set([old, fresh]));
    expect(new Set(hub.members('ops'))).toEqual(new Set([bob]));
    expect(hub.leave(old, 'dev')).toBe(false);
    expect(new Set(hub.members('dev'))).toEqual(new Set([fresh]));
  });

  it('keeps each client\'s memberOf in step with the rooms it is listed in', () => {
    const hub = new Hub();
    const a = fake('a');
    hub.join(a, 'dev');
    hub.join(a, 'ops'); // briefly in two rooms while switching
    expect([...a.memberOf].sort()).toEqual(['dev', 'ops']);
    hub.leave(a, 'dev');
    expect([...a.memberOf]).toEqual(['ops']);
    hub.leave(a, 'ops');
    expect(a.memberOf.size).toBe(0);
    hub.leave(a, 'nowhere');
    expect(a.memberOf.size).toBe(0);
  });

  it('room membership is independent of user registration', () => {
    const hub = new Hub();
    const a = fake('a');
    hub.add(a);
    hub.join(a, 'dev');
    hub.remove(a);
    expect(hub.size).toBe(0);
    expect(hub.hasRoom('dev')).toBe(true);
  });
});
