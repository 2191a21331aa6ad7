/**
 * Tabs sharing one connection (`share: shareTabs()`), in Debian's Chromium (playwright-core):
 * every tab of a browser context is a tab of one browser. The page is the demo's (which exposes
 * the client class) without a user, so that the only clients are the ones each test makes; the
 * service counts its sockets in `GET /metrics`. Sockets per user with 5 tabs, push to each tab,
 * room pushes, chat presence and acks across tabs; the leader closed, frozen (CDP), blocked by a
 * long task, put in the back/forward cache, while events are published (every tab gets each
 * event once); two users never sharing, and a tab moving when its token becomes another user's.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { demoKey } from '../support/client-harness.js';
import { startInstance, type Instance } from '../support/harness.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** The page's globals as seen from page functions (no DOM library in the server's type check). */
type G = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const ROOM = { Type: 'GLOBAL', RoomTypeObject: 'tabs' };

describe('one connection for the tabs of a user, in Chromium', () => {
  let app: Instance;
  let browser: Browser;
  let n = 0;

  async function publish(channel: string, data: unknown): Promise<void> {
    const res = await fetch(`${app.url}/api/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await demoKey(app)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel, data }),
    });
    expect(res.status).toBe(202);
  }

  /** A node event in the workspace every demo user holds (`common`) or alice's only (`projects`); returns the path the tabs see. */
  async function publishFile(workspace: 'common' | 'projects' = 'common'): Promise<string> {
    const name = `f-${++n}.txt`;
    await publish('topic.pydio.tree.nodes.changes', { Type: 'DELETE', Source: { Uuid: `t-${n}`, Path: `demo/${workspace}/${name}` } });
    return `${workspace}/${name}`;
  }

  const push = (data: Record<string, unknown>) => publish('switchboard.push', data);

  /** Open sockets per endpoint, as the service counts them. */
  async function sockets(): Promise<{ events: number; chat: number }> {
    const text = await (await fetch(`${app.url}/metrics`)).text();
    const read = (endpoint: string) => Number(new RegExp(`^switchboard_connections\\{endpoint="${endpoint}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
    return { events: read('events'), chat: read('chat') };
  }

  async function socketsBecome(expected: { events: number; chat: number }): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (JSON.stringify(await sockets()) !== JSON.stringify(expected) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await sockets()).toEqual(expected);
  }

  /** `count` tabs of one browser (a context), each with a client for `user`, live on /ws. */
  async function openTabs(context: BrowserContext, count: number, user: string, share: boolean): Promise<Page[]> {
    const pages: Page[] = [];
    for (let i = 0; i < count; i++) {
      const page = await context.newPage();
      page.on('pageerror', (e) => console.error(`tab ${i}: ${e}`));
      await page.goto(`${app.url}/demo/`);
      await page.waitForFunction(() => Boolean((globalThis as G).__Switchboard));
      await page.evaluate(
        ([user, share]) => {
          const w = globalThis as G;
          // The user the page's token endpoint answers for: a test logs another one in by changing it.
          Object.assign(w, { __user: user, __nodes: [], __pushes: [], __resets: [], __rooms: [] });
          const token = async () => ((await (await fetch(`/demo/api/session?user=${w.__user}`)).json()) as { token: string }).token;
          const c = new w.__Switchboard({ token, backoff: { initialMs: 100, maxMs: 500 }, share: share ? w.__shareTabs({ probeMs: 1000 }) : undefined });
          c.on('node', (e: G) => w.__nodes.push((e.Target ?? e.Source).Path));
          c.on('push', (p: G) => w.__pushes.push(p));
          c.on('reset', (r: string) => w.__resets.push(r));
          c.on('room', (r: G) => w.__rooms.push(r));
          w.__statuses = [];
          c.on('status', (st: G) => w.__statuses.push({ at: performance.now(), ...st }));
          w.__c = c;
        },
        [user, share] as const,
      );
      pages.push(page);
    }
    for (const page of pages) await page.waitForFunction(() => (globalThis as G).__c.status.state === 'live', undefined, { timeout: 15_000 });
    return pages;
  }

  const each = <T>(pages: Page[], fn: () => T) => Promise.all(pages.map((p) => p.evaluate(fn)));

  /** A browser context closed after the test whatever happens, so that a failure leaves no socket to the next. */
  const contexts: BrowserContext[] = [];
  async function newContext(): Promise<BrowserContext> {
    const context = await browser.newContext();
    contexts.push(context);
    return context;
  }

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
    execFileSync(process.execPath, ['node_modules/vite/bin/vite.js', 'build', 'examples/web', '--logLevel', 'warn'], { stdio: 'inherit' });
    app = await startInstance({ DEMO_MODE: 'true', PING_INTERVAL_MS: '2000', CHAT_ROOM_UPDATE_WINDOW_MS: '0' });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
  }, 90_000);

  afterEach(async () => {
    for (const context of contexts.splice(0)) await context.close();
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  it('5 tabs of one user: 10 sockets each on its own, 2 shared; every tab gets every event once; the status says who holds them', async () => {
    const solo = await newContext();
    const alone = await openTabs(solo, 5, 'alice', false);
    await each(alone, () => (globalThis as G).__c.chat.join({ Type: 'GLOBAL', RoomTypeObject: 'tabs' }));
    for (const page of alone) await page.waitForFunction(() => (globalThis as G).__c.status.endpoints.chat.state === 'live');
    const before = await sockets();
    await solo.close();
    await socketsBecome({ events: 0, chat: 0 });

    const context = await newContext();
    const tabs = await openTabs(context, 5, 'alice', true);
    await each(tabs, () => (globalThis as G).__c.chat.join({ Type: 'GLOBAL', RoomTypeObject: 'tabs' }));
    for (const page of tabs) await page.waitForFunction(() => (globalThis as G).__c.status.state === 'live' && (globalThis as G).__c.status.shared.tabs === 5);
    const after = await sockets();
    console.log(`sockets of one user with 5 tabs: ${before.events} /ws + ${before.chat} /chat each on its own, ${after.events} /ws + ${after.chat} /chat shared`);
    expect(before).toEqual({ events: 5, chat: 5 });
    expect(after).toEqual({ events: 1, chat: 1 });
    const shares: G[] = await each(tabs, () => (globalThis as G).__c.status.shared);
    expect(shares.filter((s) => s.leader)).toHaveLength(1);
    expect(shares.every((s) => s.tabs === 5)).toBe(true);

    const files = [await publishFile(), await publishFile('projects'), await publishFile()];
    for (const page of tabs) await page.waitForFunction((last) => (globalThis as G).__nodes.includes(last), files[2]);
    expect(await each(tabs, () => (globalThis as G).__nodes)).toEqual(tabs.map(() => files));
    expect(await each(tabs, () => (globalThis as G).__resets)).toEqual(tabs.map(() => []));
    await context.close();
    await socketsBecome({ events: 0, chat: 0 });
  }, 90_000);

  it('push to a tab reaches that tab alone, for each of 5; a room push reaches the tab that joined it', async () => {
    const context = await newContext();
    const tabs = await openTabs(context, 5, 'alice', true);
    const ids: string[] = await each(tabs, () => (globalThis as G).__c.session.sessionId);
    const [sessionId] = ids[0].split('.');
    expect(new Set(ids).size).toBe(5); // a target of its own...
    for (const id of ids) expect(id).toMatch(new RegExp(`^${sessionId}\\.[\\w-]{1,32}$`)); // ...on the one shared session
    await tabs[3].evaluate(() => (globalThis as G).__c.joinRoom('user:alice'));
    await tabs[3].waitForFunction(() => (globalThis as G).__rooms.some((r: G) => r.room === 'user:alice' && r.joined));

    for (let i = 0; i < 5; i++) await push({ pushToSession: ids[i], payload: { to: i } });
    await push({ pushToUser: 'alice', tabWindowId: ids[2], payload: { filtered: 2 } });
    await push({ pushToSession: ids[1], payload: 'a string cannot say which tab' });
    await push({ pushToRoom: 'user:alice', payload: { room: true } });
    await push({ pushToUser: 'alice', payload: { all: true } }); // the barrier: every tab gets it, after the others
    for (const page of tabs) await page.waitForFunction(() => (globalThis as G).__pushes.some((p: G) => p.all));

    const got: G[][] = await each(tabs, () => (globalThis as G).__pushes.map((p: G) => Object.fromEntries(Object.entries(p).filter(([k]) => !k.startsWith('@')))));
    expect(got).toEqual([[{ to: 0 }, { all: true }], [{ to: 1 }, { all: true }], [{ to: 2 }, { filtered: 2 }, { all: true }], [{ to: 3 }, { room: true }, { all: true }], [{ to: 4 }, { all: true }]]);
    const tagged: G[] = await tabs[3].evaluate(() => (globalThis as G).__pushes);
    expect(tagged[0]['@tab']).toBe(ids[3].split('.')[1]);
    expect(tagged[1]['@room']).toBe('user:alice');
    // Room answers go to the tab that asked.
    expect(await each(tabs, () => (globalThis as G).__rooms.length)).toEqual([0, 0, 0, 1, 0]);
    await context.close();
    await socketsBecome({ events: 0, chat: 0 });
  }, 60_000);

  it('chat from 5 tabs: presence counts the user while any tab holds the room; each post is answered in the tab that posted', async () => {
    const bobs = await newContext();
    const [bob] = await openTabs(bobs, 1, 'bob', true);
    await bob.evaluate((room) => ((globalThis as G).__room = (globalThis as G).__c.chat.join(room)), ROOM);
    const context = await newContext();
    const tabs = await openTabs(context, 5, 'alice', true);
    await each(tabs, () => {
      const w = globalThis as G;
      w.__posts = [];
      w.__room = w.__c.chat.join({ Type: 'GLOBAL', RoomTypeObject: 'tabs' });
      w.__room.on('post', (p: G) => w.__posts.push(p));
    });
    for (const page of [bob, ...tabs]) await page.waitForFunction(() => ['alice', 'bob'].every((u) => (globalThis as G).__room.snapshot.users.includes(u)));
    expect(await sockets()).toEqual({ events: 2, chat: 2 });

    await tabs[2].evaluate(() => (globalThis as G).__room.post('hello from tab 2'));
    await tabs[3].evaluate(() => (globalThis as G).__room.post('x'.repeat(4001)));
    await tabs[2].waitForFunction(() => (globalThis as G).__posts.some((p: G) => p.state === 'sent'));
    await tabs[3].waitForFunction(() => (globalThis as G).__posts.some((p: G) => p.state === 'refused'));
    for (const page of [bob, ...tabs]) await page.waitForFunction(() => (globalThis as G).__room.snapshot.messages.some((m: G) => m.Message === 'hello from tab 2'));
    const posts: G[][] = await each(tabs, () => (globalThis as G).__posts.map((p: G) => [p.state, p.code]));
    expect(posts).toEqual([[], [], [['pending', undefined], ['sent', undefined]], [['pending', undefined], ['refused', 'message_too_long']], []]);
    const messages: string[][] = await each([bob, ...tabs], () => (globalThis as G).__room.snapshot.messages.map((m: G) => `${m.Author}: ${m.Message}`));
    for (const list of messages) expect(list.filter((m) => m === 'alice: hello from tab 2')).toHaveLength(1);
    expect(await each(tabs, () => (globalThis as G).__room.snapshot.error)).toEqual(tabs.map(() => undefined));

    // Tab 4 leaves: alice is still present through the others. The barrier: tab 0's HISTORY on the
    // shared socket after tab 4's leave is answered (a session that left the room would get nothing).
    await tabs[4].evaluate(() => (globalThis as G).__room.leave());
    await tabs[0].evaluate(() => {
      const w = globalThis as G;
      w.__answered = false;
      w.__room.on('presence', () => (w.__answered = true));
      w.__room.history(0);
    });
    await tabs[0].waitForFunction(() => (globalThis as G).__answered);
    expect(await tabs[0].evaluate(() => (globalThis as G).__room.snapshot.users)).toContain('alice');
    expect(await bob.evaluate(() => (globalThis as G).__room.snapshot.users)).toContain('alice');

    // The last tab leaves: the user leaves the room.
    await each(tabs.slice(0, 4), () => (globalThis as G).__room.leave());
    await bob.waitForFunction(() => !(globalThis as G).__room.snapshot.users.includes('alice'));
    await context.close();
    await bobs.close();
    await socketsBecome({ events: 0, chat: 0 });
  }, 60_000);

  /** Publishes `count` node events one after the other, `gapMs` apart, calling `at(i)` after the i-th. */
  async function publishMany(count: number, gapMs: number, at: (i: number) => Promise<void> | void = () => {}): Promise<string[]> {
    const paths: string[] = [];
    for (let i = 0; i < count; i++) {
      paths.push(await publishFile());
      await at(i);
      await new Promise((r) => setTimeout(r, gapMs));
    }
    return paths;
  }

  /**
   * One event every tab has seen, then a clean record: a handover can only resume from an offset
   * some tab saw (before any, a tab replaced early, e.g. by a busy machine at start-up, resets, as
   * a client of its own would after a reconnect with nothing to resume from).
   */
  async function inStream(tabs: Page[]): Promise<void> {
    const first = await publishFile();
    for (const page of tabs) await page.waitForFunction((p) => (globalThis as G).__nodes.includes(p), first);
    await each(tabs, () => Object.assign(globalThis as G, { __nodes: [], __resets: [], __statuses: [] }));
  }

  async function leaderOf(tabs: Page[]): Promise<number> {
    const shares: G[] = await each(tabs, () => (globalThis as G).__c.status.shared);
    return shares.findIndex((s) => s.leader);
  }

  it('the leader closed while events are published: another tab takes over and every tab gets every event once', async () => {
    const context = await newContext();
    const tabs = await openTabs(context, 5, 'alice', true);
    await inStream(tabs);
    const leader = await leaderOf(tabs);
    const [before] = await each([tabs[leader]], () => (globalThis as G).__c.session.sessionId);
    let closing: Promise<void> | undefined;
    // Not awaited: events go on being published while the tab closes and another takes over.
    const paths = await publishMany(40, 5, (i) => void (i === 10 && (closing = tabs[leader].close())));
    await closing;
    const rest = tabs.filter((_, i) => i !== leader);
    for (const page of rest) await page.waitForFunction((last) => (globalThis as G).__nodes.includes(last), paths.at(-1), { timeout: 15_000 });
    expect(await each(rest, () => (globalThis as G).__nodes)).toEqual(rest.map(() => paths));
    expect(await each(rest, () => (globalThis as G).__resets)).toEqual(rest.map(() => []));
    const shares: G[] = await each(rest, () => (globalThis as G).__c.status.shared);
    expect(shares.filter((s) => s.leader)).toHaveLength(1);
    expect(await each(rest, () => (globalThis as G).__c.session.sessionId.split('.')[0])).not.toContain(before.split('.')[0]);
    await socketsBecome({ events: 1, chat: 0 });
    await context.close();
    await socketsBecome({ events: 0, chat: 0 });
  }, 60_000);

  it('the leader frozen, then blocked by a long task, while events are published: every tab, itself included, gets every event once', async () => {
    const context = await newContext();
    const tabs = await openTabs(context, 5, 'alice', true);
    await inStream(tabs);
    let leader = await leaderOf(tabs);
    const cdp = await context.newCDPSession(tabs[leader]);
    const frozen = await publishMany(20, 25, async (i) => {
      if (i === 5) await cdp.send('Page.setWebLifecycleState', { state: 'frozen' });
      if (i === 15) await cdp.send('Page.setWebLifecycleState', { state: 'active' });
    });
    for (const page of tabs) await page.waitForFunction((last) => (globalThis as G).__nodes.includes(last), frozen.at(-1), { timeout: 15_000 });
    expect(await each(tabs, () => (globalThis as G).__nodes)).toEqual(tabs.map(() => frozen));
    expect(await each(tabs, () => (globalThis as G).__resets)).toEqual(tabs.map(() => []));

    // A hub that stops answering (its page busy for 4 s) is replaced; when it wakes it delivers nothing twice.
    leader = await leaderOf(tabs);
    let hang: Promise<unknown> | undefined;
    const blocked = await publishMany(30, 50, (i) => {
      if (i === 5) hang = tabs[leader].evaluate(() => {
        const until = Date.now() + 4000;
        while (Date.now() < until);
      });
    });
    await hang;
    const all = [...frozen, ...blocked];
    for (const page of tabs) await page.waitForFunction((last) => (globalThis as G).__nodes.includes(last), all.at(-1), { timeout: 15_000 });
    expect(await each(tabs, () => (globalThis as G).__nodes)).toEqual(tabs.map(() => all));
    expect(await each(tabs, () => (globalThis as G).__resets)).toEqual(tabs.map(() => []));
    expect(await leaderOf(tabs)).not.toBe(leader);
    await socketsBecome({ events: 1, chat: 0 });
    await context.close();
    await socketsBecome({ events: 0, chat: 0 });
  }, 90_000);

  it('two tabs: the leader blocked and replaced, then its replacement closed: it takes the connection back, nothing lost or doubled', async () => {
    const context = await newContext();
    const tabs = await openTabs(context, 2, 'alice', true);
    await inStream(tabs);
    const first = await leaderOf(tabs);
    const second = 1 - first;
    let hang: Promise<unknown> | undefined;
    const during = await publishMany(20, 50, (i) => {
      if (i === 3) hang = tabs[first].evaluate(() => {
        const until = Date.now() + 4000;
        while (Date.now() < until);
      });
    });
    await hang;
    await tabs[second].waitForFunction(() => (globalThis as G).__c.status.shared.leader);
    let closing: Promise<void> | undefined;
    const after = await publishMany(20, 5, (i) => void (i === 5 && (closing = tabs[second].close())));
    await closing;
    await tabs[first].waitForFunction((last) => (globalThis as G).__nodes.includes(last), after.at(-1), { timeout: 15_000 });
    expect(await tabs[first].evaluate(() => (globalThis as G).__nodes)).toEqual([...during, ...after]);
    expect(await tabs[first].evaluate(() => [(globalThis as G).__c.status.shared, (globalThis as G).__resets])).toEqual([{ leader: true, tabs: 1 }, []]);
    // Handed back by the lock's queue as the other tab closed, not found out by probing (2 probeMs at least).
    const handBackMs: number = await tabs[first].evaluate(() => {
      const statuses: G[] = (globalThis as G).__statuses;
      const left = statuses.find((st) => st.detail === 'the tab holding the connection left')!;
      return statuses.find((st) => st.at > left.at && st.shared?.leader)!.at - left.at;
    });
    console.log(`hand-back to the queued tab: ${handBackMs.toFixed(0)} ms after the leader said it left`);
    expect(handBackMs).toBeLessThan(1000);
    await context.close();
    await socketsBecome({ events: 0, chat: 0 });
  }, 60_000);

  it('the leader put in the back/forward cache while events go on: the others resume; back, it is told it missed them (reset)', async () => {
    const context = await newContext();
    const tabs = await openTabs(context, 3, 'alice', true);
    await inStream(tabs);
    const away = await leaderOf(tabs);
    const rest = tabs.filter((_, i) => i !== away);
    // What the browser does on the way into the cache and out of it (Playwright's Chromium keeps no such cache).
    const transition = (type: string) => tabs[away].evaluate((t) => (globalThis as G).dispatchEvent(new (globalThis as G).PageTransitionEvent(t, { persisted: true })), type);
    await transition('pagehide');
    const missed = await publishMany(5, 10);
    for (const page of rest) await page.waitForFunction((last) => (globalThis as G).__nodes.includes(last), missed.at(-1));
    await transition('pageshow');
    await tabs[away].waitForFunction(() => (globalThis as G).__c.status.state === 'live' && (globalThis as G).__resets.length > 0);
    const after = await publishFile();
    for (const page of tabs) await page.waitForFunction((p) => (globalThis as G).__nodes.includes(p), after);
    expect(await tabs[away].evaluate(() => [(globalThis as G).__nodes, (globalThis as G).__resets, (globalThis as G).__c.status.shared])).toEqual([
      [after],
      ['this tab was away while the connection went on: events may have been missed'],
      { leader: false, tabs: 3 },
    ]);
    expect(await each(rest, () => [(globalThis as G).__nodes, (globalThis as G).__resets])).toEqual(rest.map(() => [[...missed, after], []]));
  }, 60_000);

  it('two tabs of two users do not share: each its own socket and its own events', async () => {
    const context = await newContext();
    const [alice] = await openTabs(context, 1, 'alice', true);
    const [bob] = await openTabs(context, 1, 'bob', true);
    expect(await sockets()).toEqual({ events: 2, chat: 0 });
    expect(await each([alice, bob], () => (globalThis as G).__c.status.shared)).toEqual([{ leader: true, tabs: 1 }, { leader: true, tabs: 1 }]);
    const hidden = await publishFile('projects'); // alice's workspace only
    await push({ pushToUser: 'bob', payload: { to: 'bob' } });
    const barrier = await publishFile('common');
    await push({ pushToUser: 'alice', payload: { to: 'alice' } });
    for (const page of [alice, bob]) await page.waitForFunction(() => (globalThis as G).__pushes.length > 0 && (globalThis as G).__nodes.length > 0);
    await bob.waitForFunction((p) => (globalThis as G).__nodes.includes(p), barrier);
    await alice.waitForFunction(() => (globalThis as G).__pushes.some((p: G) => p.to === 'alice'));
    expect(await alice.evaluate(() => (globalThis as G).__nodes)).toEqual([hidden, barrier]);
    expect(await bob.evaluate(() => (globalThis as G).__nodes)).toEqual([barrier]);
    expect(await alice.evaluate(() => (globalThis as G).__pushes.map((p: G) => p.to))).toEqual(['alice']);
    expect(await bob.evaluate(() => (globalThis as G).__pushes.map((p: G) => p.to))).toEqual(['bob']);
    await context.close();
    await socketsBecome({ events: 0, chat: 0 });
  }, 60_000);

  it('a tab whose token becomes another user\'s moves to that user\'s group, whether it holds the connection or not', async () => {
    const context = await newContext();
    const tabs = await openTabs(context, 3, 'alice', true);
    const leader = await leaderOf(tabs);
    const [member, other] = tabs.map((_, i) => i).filter((i) => i !== leader);
    // bob logs in, as the member tab's token endpoint now says; it notices at the hub's next session.
    await tabs[member].evaluate(() => ((globalThis as G).__user = 'bob'));
    await tabs[leader].evaluate(() => (globalThis as G).__c.drop());
    await tabs[member].waitForFunction(() => (globalThis as G).__c.status.state === 'live' && (globalThis as G).__c.status.shared.leader);
    // Now the tab holding alice's connection: its next token is bob's too.
    await tabs[leader].evaluate(() => ((globalThis as G).__user = 'bob'));
    await tabs[leader].evaluate(() => (globalThis as G).__c.drop());
    await tabs[leader].waitForFunction(() => (globalThis as G).__c.status.state === 'live' && (globalThis as G).__c.status.shared.tabs === 2);
    await tabs[other].waitForFunction(() => (globalThis as G).__c.status.state === 'live' && (globalThis as G).__c.status.shared.tabs === 1);
    await socketsBecome({ events: 2, chat: 0 });
    await each(tabs, () => ((globalThis as G).__nodes = []));

    const hidden = await publishFile('projects'); // alice's workspace only
    const barrier = await publishFile('common');
    for (const page of tabs) await page.waitForFunction((p) => (globalThis as G).__nodes.includes(p), barrier);
    expect(await each(tabs, () => (globalThis as G).__nodes)).toEqual(tabs.map((_, i) => (i === other ? [hidden, barrier] : [barrier])));
    await context.close();
    await socketsBecome({ events: 0, chat: 0 });
  }, 60_000);

  it('the demo with ?share in two tabs: one socket per endpoint, and the badge says which tab holds them', async () => {
    const context = await newContext();
    const pages = [await context.newPage(), await context.newPage()];
    for (const page of pages) await page.goto(`${app.url}/demo/?user=alice&share&fast`);
    for (const page of pages) await page.waitForFunction(() => /of 2 tabs/.test((globalThis as G).document.querySelector('[data-testid="status"]')?.textContent ?? ''), undefined, { timeout: 15_000 });
    for (const page of pages) await page.waitForSelector('[data-testid="presence"] .user');
    const badges = await Promise.all(pages.map((p) => p.textContent('[data-testid="status"]')));
    expect(badges.map((b) => /holds the connection/.test(b!)).sort()).toEqual([false, true]);
    expect(badges.every((b) => b!.startsWith('live'))).toBe(true);
    await socketsBecome({ events: 1, chat: 1 });
  }, 60_000);
});
