import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectV1, type TestClient } from '../support/client';
import { uniquePrefix } from '../support/prefix';
import { freePort, startNats, waitUntil, type ServerHandle } from '../support/servers';
import { startWorker, type WorkerHandle } from '../support/worker';

/**
 * A two-node NATS cluster on loopback: each worker is given both servers and prefers a different
 * one; killing a node moves its worker to the other, and chat between the workers goes on.
 */
describe('NATS cluster failover', () => {
  let n1: ServerHandle;
  let n2: ServerHandle;
  let a: WorkerHandle;
  let b: WorkerHandle;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    const [c1, c2] = [await freePort(), await freePort()];
    const route = (p: number) => `nats://127.0.0.1:${p}`;
    n1 = await startNats({ name: 'n1', extraArgs: ['--cluster_name', 'cf', '--cluster', route(c1), '--routes', route(c2)] });
    n2 = await startNats({ name: 'n2', extraArgs: ['--cluster_name', 'cf', '--cluster', route(c2), '--routes', route(c1)] });
    const prefix = uniquePrefix('natsfo');
    const redisUrl = inject('redisUrl');
    [a, b] = await Promise.all([
      startWorker({ natsUrl: `${n1.url},${n2.url}`, redisUrl, prefix, id: 'FA' }),
      startWorker({ natsUrl: `${n2.url},${n1.url}`, redisUrl, prefix, id: 'FB' }),
    ]);
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all([a?.stop(), b?.stop()]);
    await Promise.all([n1?.stop(), n2?.stop()]);
  });

  it('keeps delivering across workers after the NATS node of one of them dies', async () => {
    const alice = await connectV1(a.wsUrl, 'alice');
    const bob = await connectV1(b.wsUrl, 'bob');
    clients.push(alice, bob);
    // Routes between the two nodes take a moment to form: wait until a message crosses.
    await waitUntil(
      async () => {
        const from = bob.frames.length;
        await alice.request({ type: 'message', text: 'probe' }, (f) => f.type === 'ack');
        await bob.waitFor((f) => f.type === 'message' && f.text === 'probe', { from, timeoutMs: 500 });
        return true;
      },
      15_000,
      'the NATS cluster to route between its nodes',
    );

    // Kill the node worker A is connected to (nats.js picks from the list at random).
    const connected = a.logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'NATS connected');
    const victim = connected.server.endsWith(`:${n1.port}`) ? n1 : n2;
    const survivor = victim === n1 ? n2 : n1;
    await victim.kill();
    await waitUntil(
      async () => {
        const from = bob.frames.length;
        await alice.request({ type: 'message', text: 'after failover' }, (f) => f.type === 'ack');
        await bob.waitFor((f) => f.type === 'message' && f.text === 'after failover', { from, timeoutMs: 1000 });
        return true;
      },
      20_000,
      'delivery after the NATS node died',
    );
    await waitUntil(
      () => a.logs.some((l) => l.includes('NATS reconnected') && l.includes(`:${survivor.port}`)),
      10_000,
      'worker A to log its reconnect to the surviving node',
    );
    const back = await bob.request({ type: 'message', text: 'and back' }, (f) => f.type === 'ack');
    expect(typeof back.id).toBe('number');
    await alice.waitFor((f) => f.type === 'message' && f.text === 'and back');
    expect(a.proc.exitCode).toBeNull();
    expect(b.proc.exitCode).toBeNull();
  });
});
