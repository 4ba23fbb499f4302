import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatClient } from '../../tui/core/client';
import { startPm2Cluster, type Pm2Cluster } from '../support/pm2-cluster';
import { waitUntil } from '../support/servers';
import { ROOT } from '../support/worker';

const run = promisify(execFile);

/**
 * Two real terminal clients under tmux (a private tmux server, by socket name) against the PM2
 * cluster: they join a room, talk, see each other in the user list, and the conversation goes on
 * after their workers restart.
 */
describe('terminal client under tmux (PM2 + nginx)', () => {
  let cluster: Pm2Cluster;
  const socket = `cf-tui-${process.pid}`;
  const tmux = (...args: string[]) => run('tmux', ['-L', socket, ...args]);
  const screen = async (s: string) => (await tmux('capture-pane', '-p', '-t', s)).stdout;
  const type = async (s: string, text: string) => {
    await tmux('send-keys', '-t', s, '-l', text);
    await tmux('send-keys', '-t', s, 'Enter');
  };
  const shows = (s: string, text: string, what = text) =>
    waitUntil(async () => (await screen(s)).includes(text), 15_000, `${s} to show "${what}"`).catch(async (err) => {
      throw new Error(`${(err as Error).message}\n${await screen(s)}`);
    });

  beforeAll(async () => {
    cluster = await startPm2Cluster({ workers: 2 });
  }, 90_000);

  afterAll(async () => {
    await tmux('kill-server').catch(() => undefined);
    await cluster?.stop();
  }, 60_000);

  it('chats between two TUIs, lists both users, and continues after a worker restart', async () => {
    const tui = path.join(ROOT, 'dist', 'tui', 'main.js');
    for (const [s, user] of [['one', 'tom'], ['two', 'uma']]) {
      // uma is asked for her name inside the UI; tom gives it on the command line.
      const args = user === 'tom' ? `--username ${user}` : '';
      await tmux('new-session', '-d', '-s', s, '-x', '90', '-y', '24', `${process.execPath} ${tui} --url ${cluster.wsUrl} ${args}`);
    }
    await shows('two', 'choose a username');
    await type('two', 'uma');
    await shows('one', 'as tom');
    await shows('two', 'as uma');

    await type('one', '/join tuiroom');
    await shows('one', 'you are in tuiroom');
    await type('two', '/join tuiroom');
    // Both must be in the room before tom speaks: "uma joined" alone may be her join of global.
    await shows('two', 'you are in tuiroom');
    await shows('one', 'uma joined');
    await type('one', 'hello uma ✓');
    await shows('two', 'hello uma ✓');
    await type('two', 'hi tom');
    await shows('one', 'hi tom');
    // The users pane lists both.
    const a = await screen('one');
    expect(a).toMatch(/x\s*tom\s+x/);
    expect(a).toMatch(/x\s*uma\s+x/);

    await cluster.pm2('reload', `${cluster.name}-worker`);
    await shows('one', 'reconnecting');
    await waitUntil(async () => (await screen('one')).includes('| connected |') && (await screen('two')).includes('| connected |'), 30_000, 'both back');
    await type('two', 'after the restart');
    await shows('one', 'after the restart');
    await type('one', 'still here');
    await shows('two', 'still here');
    // Nothing doubled by the resume.
    const count = (text: string, s: string) => s.split('\n').filter((l) => l.includes(text)).length;
    expect(count('hello uma ✓', await screen('two'))).toBe(1);
    expect(count('hi tom', await screen('one'))).toBe(1);
    console.log(`tui after reload:\n${await screen('one')}`);
  }, 150_000);

  it('honours a name and a first line typed right after `npm run tui`, before the interface is up', async () => {
    const observer = new ChatClient({ url: cluster.wsUrl, username: 'watcher' });
    const heard: string[] = [];
    observer.on('message', (m: { from: string; text: string }) => heard.push(`${m.from}: ${m.text}`));
    await observer.connect();
    try {
      // Launched as a user launches it; the keys go in at once, while npm and the set-up still run.
      const launchedAt = performance.now();
      await tmux('new-session', '-d', '-s', 'early', '-x', '90', '-y', '24', `cd ${ROOT} && npm run tui -- --url ${cluster.wsUrl}`);
      await tmux('send-keys', '-t', 'early', '-l', 'early_bird');
      await tmux('send-keys', '-t', 'early', 'Enter');
      await tmux('send-keys', '-t', 'early', '-l', 'typed before the screen was drawn');
      await tmux('send-keys', '-t', 'early', 'Enter');
      const typedMs = performance.now() - launchedAt;
      await shows('early', 'as early_bird');
      await waitUntil(() => heard.includes('early_bird: typed before the screen was drawn'), 15_000, 'the first line to arrive');
      const s = await screen('early');
      expect(s).not.toContain('invalid username');
      expect(s.split('\n').filter((l) => l.includes('typed before the screen was drawn')).length).toBe(1);
      // Keys right after an Enter: a line and, at once, the next one.
      await type('early', 'second');
      await type('early', 'third');
      await waitUntil(() => heard.includes('early_bird: third'), 10_000, 'the lines typed back to back');
      expect(heard.filter((h) => h.startsWith('early_bird: '))).toEqual(['early_bird: typed before the screen was drawn', 'early_bird: second', 'early_bird: third']);
      console.log(`tui early typing: keys sent ${typedMs.toFixed(0)} ms after launch; name and every line honoured`);
    } finally {
      observer.close();
    }
  }, 60_000);
});
