import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectLegacy, connectV1, type TestClient } from '../support/client';
import { uniquePrefix } from '../support/prefix';
import { startWorker, type WorkerHandle } from '../support/worker';

describe('two workers joined by NATS and Redis', () => {
  let a: WorkerHandle;
  let b: WorkerHandle;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    const prefix = uniquePrefix('cross');
    [a, b] = await Promise.all([
      startWorker({ natsUrl: inject('natsUrl'), redisUrl: inject('redisUrl'), prefix, id: 'A' }),
      startWorker({ natsUrl: inject('natsUrl'), redisUrl: inject('redisUrl'), prefix, id: 'B' }),
    ]);
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it('delivers a chat message from a user on A to a user on B, and not back to the sender', async () => {
    const alice = await connectV1(a.wsUrl, 'alice');
    const bob = await connectLegacy(b.wsUrl, 'bob');
    clients.push(alice, bob);
    const ack = await alice.request({ type: 'message', text: 'hello from A', ref: 'r1' }, (f) => f.type === 'ack');
    expect(ack).toMatchObject({ ref: 'r1', room: 'global' });
    expect(typeof ack.id).toBe('number');
    const got = await bob.waitFor((f) => f.type === 'chat_message');
    expect(got).toMatchObject({ sender: 'alice', content: 'hello from A', room: 'global' });
    expect(alice.ofType('message')).toHaveLength(0);
  });
});
