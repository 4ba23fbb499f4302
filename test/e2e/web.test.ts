import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ChatClient } from '../../tui/core/client';
import { launchBrowser } from '../support/browser';
import { startPm2Cluster, type Pm2Cluster } from '../support/pm2-cluster';
import { uniquePrefix } from '../support/prefix';
import { waitUntil } from '../support/servers';
import { startWorker, type WorkerHandle } from '../support/worker';

/**
 * The browser client in a real chromium against the real local cluster (PM2 workers behind
 * nginx, which serves the page): two pages and a user of the terminal client's core chat both
 * ways, switch rooms, send direct messages, and go on through `pm2 reload` with every stored
 * message shown once on each page. CHATFABRIC_WEB_SCREENSHOT=<file.png> saves a screenshot of
 * one page (docs/web.png comes from it).
 */
describe('browser client (chromium, PM2 + nginx)', () => {
  let cluster: Pm2Cluster;
  let browser: Browser;
  const cores: ChatClient[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    [cluster, browser] = await Promise.all([startPm2Cluster({ workers: 2 }), launchBrowser()]);
  }, 90_000);

  afterAll(async () => {
    for (const c of cores) c.close();
    await browser?.close();
    await cluster?.stop();
  }, 60_000);

  const base = () => `http://127.0.0.1:${cluster.publicPort}`;

  async function open(name: string, viewport = { width: 1100, height: 700 }): Promise<Page> {
    const page = await (await browser.newContext({ viewport })).newPage();
    page.on('pageerror', (e) => pageErrors.push(`${name}: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(`${name}: ${m.text()}`);
    });
    await page.goto(`${base()}/`);
    await page.locator('#name').fill(name);
    await page.keyboard.press('Enter');
    await page.locator('#conn[data-state="open"]').waitFor();
    return page;
  }

  /** Types a line into the compose box and sends it with Enter, as a user does. */
  async function type(page: Page, text: string): Promise<void> {
    await page.locator('#input').fill(text);
    await page.locator('#input').press('Enter');
  }

  /** The texts of the visible log's lines of one kind, in order. */
  const lines = (page: Page, kind: 'message' | 'direct' | 'notice') =>
    page.locator(`.log:not([hidden]) .line.${kind}`).evaluateAll((els) => els.map((e) => e.textContent?.replace(/^\d\d:\d\d/, '') ?? ''));

  /** The ids of the stored messages a room's log shows, in order (repeats included). */
  const idsIn = (page: Page, room: string) =>
    page.locator(`.log[data-room="${room}"] .line.message[data-id]`).evaluateAll((els) => els.map((e) => Number((e as HTMLElement).dataset.id)));

  const shows = (page: Page, text: string) => page.locator('.log:not([hidden]) .line', { hasText: text }).first().waitFor({ timeout: 10_000 });

  it('serves the page from nginx, chats both ways with a terminal-client user, switches rooms, sends direct messages and survives pm2 reload', async () => {
    const alice = await open('alice');
    const bob = await open('bob');
    const carol = new ChatClient({ url: cluster.wsUrl, username: 'carol' });
    cores.push(carol);
    const carolSaw: string[] = [];
    const carolDirect: string[] = [];
    carol.on('message', (m: { from: string; text: string }) => carolSaw.push(`${m.from}: ${m.text}`));
    carol.on('direct', (m: { from: string; text: string }) => carolDirect.push(`${m.from}: ${m.text}`));
    await carol.connect();

    // Both ways between the pages, and with the terminal client's core.
    await type(alice, 'hello from alice');
    await shows(bob, 'hello from alice');
    await type(bob, 'hello from bob');
    await shows(alice, 'hello from bob');
    await carol.say('hello from carol');
    await shows(alice, 'hello from carol');
    await shows(bob, 'hello from carol');
    await waitUntil(() => carolSaw.includes('alice: hello from alice') && carolSaw.includes('bob: hello from bob'), 5000, 'carol sees both pages');
    expect((await lines(bob, 'message')).filter((l) => l.includes('hello from'))).toEqual(['alicehello from alice', 'bobhello from bob', 'carolhello from carol']);

    // The people list names everyone, in the user's colour; the rooms list counts them.
    await waitUntil(async () => (await alice.locator('#members li').allTextContents()).join(',') === 'alice,bob,carol', 5000, 'members on the page');
    expect(await alice.locator('#members li span').first().getAttribute('class')).toMatch(/^c-[a-z-]+$/);
    await waitUntil(async () => (await alice.locator('#rooms button[aria-current="true"]').textContent()) === 'global3', 15_000, 'the rooms list counts three in global');

    // Commands: Tab completes, /users answers, an unknown one is explained.
    await alice.locator('#input').fill('/us');
    await alice.locator('#input').press('Tab');
    expect(await alice.locator('#input').inputValue()).toBe('/users ');
    await alice.locator('#input').press('Enter');
    await shows(alice, 'users online: ');
    const online = (await lines(alice, 'notice')).find((l) => l.includes('users online: '))!;
    expect(online.split('users online: ')[1].split(', ').sort()).toEqual(['alice', 'bob', 'carol']);
    await type(alice, '/frobnicate');
    await shows(alice, 'unknown command /frobnicate; try /help');

    // Rooms: alice types /join, bob uses the form; only dev hears dev, history comes on join.
    await type(alice, '/join dev');
    await alice.locator('#room-title', { hasText: 'dev' }).waitFor();
    await type(alice, 'first in dev');
    await bob.locator('#join-room').fill('dev');
    await bob.locator('#join-room').press('Enter');
    await bob.locator('#room-title', { hasText: 'dev' }).waitFor();
    await shows(bob, 'first in dev'); // from history
    await type(bob, 'dev is quiet');
    await shows(alice, 'dev is quiet');
    expect(carolSaw.some((l) => l.includes('dev'))).toBe(false);

    // Direct messages: page to core and core to page, across rooms.
    await type(bob, '/msg carol psst carol');
    await waitUntil(() => carolDirect.includes('bob: psst carol'), 5000, 'carol gets the direct message');
    await carol.direct('alice', 'psst alice');
    await shows(alice, 'psst alice');
    expect((await lines(alice, 'direct')).at(-1)).toBe('carol → youpsst alice');

    // Keyboard only: with nothing to complete, Tab leaves the compose box for the next control.
    await alice.locator('#input').fill('');
    await alice.locator('#input').press('Tab');
    expect(await alice.evaluate(() => document.activeElement?.textContent)).toBe('Send');
    await alice.locator('#input').focus();

    // pm2 reload under traffic: carol (in dev now) and both pages keep talking.
    await carol.join('dev');
    const workersBefore = await Promise.all([alice, bob].map((p) => p.locator('#conn').getAttribute('data-worker')));
    // Counts the lines that had to wait for the connection (typed while a page was reconnecting).
    for (const page of [alice, bob]) {
      await page.evaluate(() => {
        const w = window as unknown as { waited: number };
        w.waited = 0;
        new MutationObserver((records) => {
          for (const r of records) for (const n of r.addedNodes) if ((n as HTMLElement).classList?.contains('pending')) w.waited++;
        }).observe(document.getElementById('logs')!, { childList: true, subtree: true });
      });
    }
    let sending = true;
    const pageSent: string[] = [];
    const carolAcked: number[] = [];
    const carolLoop = (async () => {
      for (let i = 0; sending; i++) {
        try {
          const m = await carol.say(`carol-${i}`);
          if (m.id !== null) carolAcked.push(m.id);
        } catch {
          // not connected during the reload: the terminal client shows the error; nothing stored
        }
        await new Promise((r) => setTimeout(r, 40));
      }
    })();
    const pageLoop = (async () => {
      for (let i = 0; sending; i++) {
        for (const [name, page] of [['alice', alice], ['bob', bob]] as const) {
          await type(page, `${name}-${i}`);
          pageSent.push(`${name}-${i}`);
        }
        await new Promise((r) => setTimeout(r, 150));
      }
    })();
    await new Promise((r) => setTimeout(r, 1000));
    await cluster.pm2('reload', `${cluster.name}-worker`);
    const reloadedAt = carolAcked.length;
    await waitUntil(() => carolAcked.length >= reloadedAt + 20, 30_000, 'traffic after the reload');
    sending = false;
    await Promise.all([carolLoop, pageLoop]);

    // Both pages moved to new workers and show every stored message of dev once, none missing.
    const workersAfter = await Promise.all([alice, bob].map((p) => p.locator('#conn').getAttribute('data-worker')));
    expect(workersAfter[0]).not.toBe(workersBefore[0]);
    expect(workersAfter[1]).not.toBe(workersBefore[1]);
    const last = Math.max(...carolAcked);
    for (const page of [alice, bob]) {
      await waitUntil(async () => (await idsIn(page, 'dev')).includes(last), 15_000, 'the last message on each page');
      const ids = await idsIn(page, 'dev');
      expect(ids.length, 'no message shown twice').toBe(new Set(ids).size);
      const sorted = [...ids].sort((a, b) => a - b);
      const missing = [];
      for (let id = sorted[0]; id <= last; id++) if (!ids.includes(id)) missing.push(id);
      expect(missing, 'no stored message missing').toEqual([]);
      for (const id of carolAcked) expect(ids).toContain(id);
    }
    // What a page sent and had acknowledged is on the other page too; the rest was reported as an error there.
    const own = async (page: Page) => (await page.locator('.log[data-room="dev"] .line.message.own .text').allTextContents()).filter((t) => pageSent.includes(t));
    const [aliceAcked, bobAcked] = [await own(alice), await own(bob)];
    expect(aliceAcked.length).toBeGreaterThan(0);
    const onBob = await bob.locator('.log[data-room="dev"] .line.message .text').allTextContents();
    const onAlice = await alice.locator('.log[data-room="dev"] .line.message .text').allTextContents();
    for (const t of aliceAcked) expect(onBob).toContain(t);
    for (const t of bobAcked) expect(onAlice).toContain(t);
    // Lines typed while a page was reconnecting waited and went out. One in flight when its
    // worker closed may fail (it may have been stored, so it is not sent again): then the page
    // named it in an error, and shows it as its own if it was stored. Every line typed is
    // accounted for, and none is shown twice.
    const errors = [...(await lines(alice, 'notice')), ...(await lines(bob, 'notice'))].filter((l) => l.includes('error: '));
    expect(errors.filter((e) => !/^error: connection closed \(\d+\) \(your line "[a-z]+-\d+" may not have been sent/.test(e))).toEqual([]);
    const reported = errors.map((e) => /your line "([^"]+)"/.exec(e)![1]);
    const ownShown = [...aliceAcked, ...bobAcked];
    expect(ownShown.length).toBe(new Set(ownShown).size);
    expect(pageSent.filter((t) => !ownShown.includes(t) && !reported.includes(t))).toEqual([]);
    expect(await alice.locator('.line.pending').count()).toBe(0);
    const waited = (await Promise.all([alice, bob].map((p) => p.evaluate(() => (window as unknown as { waited: number }).waited)))).reduce((a, b) => a + b);
    console.log(
      `web: ${pageSent.length} lines typed on the pages around the reload (${waited} while reconnecting, which waited), ${ownShown.length} shown once on both, ${errors.length} in flight at a close reported (${reported.filter((t) => ownShown.includes(t)).length} of them stored after all); ` +
        `carol ${carolAcked.length} acknowledged; dev shows ids ${Math.min(...(await idsIn(alice, 'dev')))}..${last} once on both pages; ` +
        `workers ${workersBefore.join(',')} -> ${workersAfter.join(',')}`,
    );

    // /leave goes back to global (nobody is left there, so the rooms list does not offer it):
    // its log is kept, with nothing doubled by the switches.
    await type(alice, '/leave');
    await alice.locator('#room-title', { hasText: 'global' }).waitFor();
    const globalIds = await idsIn(alice, 'global');
    expect(globalIds.length).toBe(new Set(globalIds).size);

    // A phone-sized page: the side panel is behind a button and opens and closes by keyboard.
    const phone = await open('dave', { width: 390, height: 740 });
    expect(await phone.locator('#side').isVisible()).toBe(false);
    await phone.locator('#toggle-side').click();
    expect(await phone.locator('#side').isVisible()).toBe(true);
    await phone.keyboard.press('Escape');
    expect(await phone.locator('#side').isVisible()).toBe(false);

    if (process.env.CHATFABRIC_WEB_SCREENSHOT) {
      await type(bob, '/join global');
      await bob.locator('#room-title', { hasText: 'global' }).waitFor();
      await type(bob, 'back in global: the reload lost nothing');
      await shows(alice, 'the reload lost nothing');
      await alice.locator('#input').fill('/jo');
      await new Promise((r) => setTimeout(r, 1000)); // the rooms list refreshes 300 ms after a join
      await alice.screenshot({ path: process.env.CHATFABRIC_WEB_SCREENSHOT });
    }
    expect(pageErrors).toEqual([]);
  }, 150_000);
});

/**
 * With authentication on, against one worker serving the page itself (as in the container image
 * and on Kubernetes, where no nginx of ours is in front): the page asks for a token instead of a
 * name, takes the name from it, and says what may be wrong when a bad token keeps it out.
 */
describe('browser client with authentication on (a worker serving the page)', () => {
  const SECRET = 'web-test-secret-0123456789abcdef0123456789';
  let worker: WorkerHandle;
  let browser: Browser;

  beforeAll(async () => {
    [worker, browser] = await Promise.all([
      startWorker({ natsUrl: inject('natsUrl'), redisUrl: inject('redisUrl'), prefix: uniquePrefix('webauth'), env: { AUTH_MODE: 'jwt', AUTH_SECRET: SECRET } }),
      launchBrowser(),
    ]);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await worker?.stop();
  });

  it('asks for a token, not a name, names the user from it, and explains a refused one', async () => {
    const { SignJWT } = await import('jose');
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('tina').setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
    const page = await (await browser.newContext()).newPage();
    const res = await page.goto(`${worker.httpUrl}/`);
    expect(res?.headers()['content-security-policy']).toContain("script-src 'self'");
    await page.locator('#token').waitFor();
    expect(await page.locator('#name').isVisible()).toBe(false);
    await page.locator('#login-form button').click();
    expect(await page.locator('#login-error').textContent()).toBe('a token is required on this server');
    await page.locator('#token').fill(token);
    await page.keyboard.press('Enter');
    await page.locator('#conn[data-state="open"]').waitFor();
    await page.locator('.line.notice', { hasText: 'you are in global as tina' }).waitFor();
    await page.locator('#input').fill('signed in from a token');
    await page.keyboard.press('Enter');
    await page.locator('.line.message.own', { hasText: 'signed in from a token' }).waitFor();

    // A token of another key: the browser sees only failed handshakes, and the page says why that may be.
    const bad = await (await browser.newContext()).newPage();
    await bad.goto(`${worker.httpUrl}/`);
    await bad.locator('#token').fill(`${token.slice(0, -4)}AAAA`);
    await bad.keyboard.press('Enter');
    await bad.locator('.line.notice', { hasText: 'cannot connect yet' }).waitFor({ timeout: 15_000 });
    expect(await bad.locator('#conn').getAttribute('data-state')).not.toBe('open');
    await bad.locator('#sign-out').click();
    expect(await bad.locator('#token').isVisible()).toBe(true);
  }, 60_000);
});
