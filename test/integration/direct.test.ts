/**
 * Direct messages across two real workers: the v1 `direct` frame and the original dialect's
 * `/msg <user> <text>` chat text, in every sender/recipient dialect pairing; acks and
 * confirmations; offline and invalid recipients.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectLegacy, connectV1, type Frame, type TestClient } from '../support/client';
import { uniquePrefix } from '../support/prefix';
import { startWorker, type WorkerHandle } from '../support/worker';

const sys = (content: string) => (f: Frame) => f.type === 'system_message' && f.content === content;
const isDirect = (f: Frame) => f.type === 'direct' || (f.type === 'chat_message' && f.direct === true);

describe('direct messages across two workers', () => {
  let a: WorkerHandle;
  let b: WorkerHandle;
  const clients: TestClient[] = [];
  // alice (v1) and dave (legacy) on A; bob (v1) and carol (legacy) on B; eve (v1, B) is a bystander
  // in another room, and frank (legacy, A) is in a room of his own.
  let alice: TestClient;
  let bob: TestClient;
  let carol: TestClient;
  let dave: TestClient;
  let eve: TestClient;
  let frank: TestClient;

  beforeAll(async () => {
    const prefix = uniquePrefix('direct');
    [a, b] = await Promise.all([
      startWorker({ natsUrl: inject('natsUrl'), redisUrl: inject('redisUrl'), prefix, id: 'directA' }),
      startWorker({ natsUrl: inject('natsUrl'), redisUrl: inject('redisUrl'), prefix, id: 'directB' }),
    ]);
    alice = await connectV1(a.wsUrl, 'alice');
    dave = await connectLegacy(a.wsUrl, 'dave');
    bob = await connectV1(b.wsUrl, 'bob');
    carol = await connectLegacy(b.wsUrl, 'carol');
    eve = await connectV1(b.wsUrl, 'eve');
    frank = await connectLegacy(a.wsUrl, 'frank');
    clients.push(alice, bob, carol, dave, eve, frank);
    await eve.request({ type: 'join', room: 'elsewhere', ref: 'j' }, (f) => f.type === 'history' && f.ref === 'j');
    await frank.request({ type: 'join_room', room: 'franks' }, sys('frank joined the room franks'));
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it('delivers a v1 direct frame from A to a v1 user on B and acks the sender', async () => {
    const ack = await alice.request({ type: 'direct', to: 'bob', text: 'hi bob', ref: 'd1' }, (f) => f.ref === 'd1');
    expect(ack).toMatchObject({ type: 'ack', ref: 'd1' });
    expect(typeof ack.id).toBe('string');
    expect(typeof ack.ts).toBe('string');
    const got = await bob.waitFor((f) => f.type === 'direct' && f.text === 'hi bob');
    expect(got).toMatchObject({ from: 'alice', to: 'bob', id: ack.id, ts: ack.ts });
    // Not a room message, and only bob got it.
    expect(bob.ofType('message').some((f) => f.text === 'hi bob')).toBe(false);
    expect(alice.frames.filter(isDirect)).toEqual([]);
  });

  it('delivers a v1 direct frame to a legacy user on the other worker as a chat_message with direct:true', async () => {
    const ack = await alice.request({ type: 'direct', to: 'carol', text: 'hi carol', ref: 'd2' }, (f) => f.ref === 'd2');
    expect(ack.type).toBe('ack');
    const got = await carol.waitFor((f) => f.type === 'chat_message' && f.content === 'hi carol');
    expect(got).toMatchObject({ sender: 'alice', direct: true, to: 'carol', room: 'global' });
    expect(typeof got.timestamp).toBe('string');
  });

  it('delivers legacy "/msg bob text" across workers and confirms it to the sender', async () => {
    const confirm = await dave.request(
      { type: 'chat_message', sender: 'dave', content: '/msg bob hello from dave, /msg inside', timestamp: '', room: 'global' },
      (f) => f.type === 'system_message',
    );
    expect(confirm).toMatchObject({ sender: 'system', content: 'direct message sent to bob' });
    expect(confirm.code).toBeUndefined();
    const got = await bob.waitFor((f) => f.type === 'direct' && f.from === 'dave');
    expect(got).toMatchObject({ to: 'bob', text: 'hello from dave, /msg inside' });

    // legacy to legacy across workers
    await dave.request({ type: 'chat_message', content: '/msg carol  two  spaces ' }, sys('direct message sent to carol'));
    const atCarol = await carol.waitFor((f) => f.type === 'chat_message' && f.direct === true && f.sender === 'dave');
    expect(atCarol.content).toBe('two  spaces');
    // and v1 typing /msg as chat text gets an ack
    const ack = await bob.request({ type: 'message', text: '/msg dave right back', ref: 'm1' }, (f) => f.ref === 'm1');
    expect(ack).toMatchObject({ type: 'ack' });
    expect(await dave.waitFor((f) => f.type === 'chat_message' && f.direct === true && f.sender === 'bob')).toMatchObject({
      content: 'right back',
      to: 'dave',
    });
  });

  it('reaches users in any room and leaks to nobody', async () => {
    await bob.request({ type: 'direct', to: 'frank', text: 'room does not matter', ref: 'd3' }, (f) => f.type === 'ack' && f.ref === 'd3');
    expect(await frank.waitFor((f) => f.content === 'room does not matter')).toMatchObject({ direct: true, room: 'franks', sender: 'bob' });
    await carol.request({ type: 'chat_message', content: '/msg eve also for eve' }, sys('direct message sent to eve'));
    expect(await eve.waitFor((f) => f.type === 'direct')).toMatchObject({ from: 'carol', text: 'also for eve' });
    // Everything so far went to its addressee only.
    const seen = (c: TestClient) => c.frames.filter(isDirect).map((f) => f.text ?? f.content);
    expect(seen(alice)).toEqual([]);
    expect(seen(eve)).toEqual(['also for eve']);
    expect(seen(frank)).toEqual(['room does not matter']);
    for (const c of [alice, dave, eve, frank]) {
      expect(c.frames.some((f) => (f.type === 'message' || f.type === 'chat_message') && !f.direct && /hi bob|hi carol|also for eve/.test(f.text ?? f.content))).toBe(false);
    }
  });

  it('answers user_offline for a user who is not connected anywhere, in both dialects', async () => {
    const err = await alice.request({ type: 'direct', to: 'nobody_here', text: 'anyone?', ref: 'o1' }, (f) => f.ref === 'o1');
    expect(err).toMatchObject({ type: 'error', code: 'user_offline' });
    expect(err.message).toContain('nobody_here');
    const lerr = await dave.request({ type: 'chat_message', content: '/msg nobody_here anyone?' }, (f) => f.type === 'system_message');
    expect(lerr).toMatchObject({ code: 'user_offline', sender: 'system' });
    expect(lerr.content).toMatch(/^error: .*nobody_here/);

    // A user who just left is offline too, from the other worker.
    const gone = await connectV1(b.wsUrl, 'gone_soon');
    await gone.close();
    await alice.waitFor((f) => f.type === 'user_left' && f.user === 'gone_soon');
    const err2 = await alice.request({ type: 'direct', to: 'gone_soon', text: 'too late', ref: 'o2' }, (f) => f.ref === 'o2');
    expect(err2).toMatchObject({ type: 'error', code: 'user_offline' });

    // The senders are still connected and can message.
    await alice.request({ type: 'direct', to: 'dave', text: 'still up', ref: 'o3' }, (f) => f.type === 'ack' && f.ref === 'o3');
    await dave.waitFor((f) => f.content === 'still up' && f.direct === true);
  });

  it('answers invalid_username for a bad recipient name, in both dialects', async () => {
    for (const to of ['bad.name', 'has space', 'x'.repeat(33), '']) {
      const err = await alice.request({ type: 'direct', to, text: 'hello', ref: `i-${to.length}` }, (f) => f.ref === `i-${to.length}`);
      expect(err, `to=${JSON.stringify(to)}`).toMatchObject({ type: 'error', code: 'invalid_username' });
    }
    for (const content of ['/msg bad.name hello', '/msg bob>x hello', `/msg ${'y'.repeat(33)} hi`]) {
      const lerr = await carol.request({ type: 'chat_message', content }, (f) => f.type === 'system_message');
      expect(lerr, content).toMatchObject({ code: 'invalid_username' });
      expect(lerr.content).toMatch(/^error: invalid username/);
    }
    const v1err = await bob.request({ type: 'message', text: '/msg a*b hi', ref: 'i9' }, (f) => f.ref === 'i9');
    expect(v1err).toMatchObject({ type: 'error', code: 'invalid_username' });
    // Nothing was delivered to anyone by those.
    expect(bob.frames.filter(isDirect).map((f) => f.text)).toEqual(['hi bob', 'hello from dave, /msg inside']);
    expect(alice.closeCode).toBeNull();
    expect(carol.closeCode).toBeNull();
  });

  it('refuses a /msg without text and an empty or oversized direct text', async () => {
    const usage = await dave.request({ type: 'chat_message', content: '/msg bob' }, (f) => f.type === 'system_message');
    expect(usage).toMatchObject({ code: 'invalid_field' });
    expect(usage.content).toContain('/msg <user> <text>');
    const empty = await alice.request({ type: 'direct', to: 'bob', text: '   ', ref: 'e1' }, (f) => f.ref === 'e1');
    expect(empty).toMatchObject({ type: 'error', code: 'empty_message' });
    const long = await alice.request({ type: 'direct', to: 'bob', text: 'z'.repeat(2001), ref: 'e2' }, (f) => f.ref === 'e2');
    expect(long).toMatchObject({ type: 'error', code: 'message_too_long' });
    const noText = await alice.request({ type: 'direct', to: 'bob', ref: 'e3' }, (f) => f.ref === 'e3');
    expect(noText).toMatchObject({ type: 'error', code: 'invalid_field' });
  });
});
