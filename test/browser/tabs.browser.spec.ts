/**
 * Tabs sharing one connection (`share: shareTabs()`), in Debian's Chromium (playwright-core):
 * every tab of a browser context is a tab of one browser. The page is the demo's (which exposes
 * the client class) without a user, so that the only clients are the ones each test makes; the
 * service counts its sockets in `GET /metrics`.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { API_KEY, startInstance, type Instance } from '../support/harness.js';

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
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
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
          Object.assign(w, { __nodes: [], __pushes: [], __resets: [], __rooms: [] });
          const token = async () => ((await (await fetch(`/demo/api/session?user=${user}`)).json()) as { token: string }).token;
          const c = new w.__Switchboard({ token, backoff: { initialMs: 100, maxMs: 500 }, share: share ? w.__shareTabs({ probeMs: 1000 }) : undefined });
          c.on('node', (e: G) => w.__nodes.push((e.Target ?? e.Source).Path));
          c.on('push', (p: G) => w.__pushes.push(p));
          c.on('reset', (r: string) => w.__resets.push(r));
          c.on('room', (r: G) => w.__rooms.push(r));
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

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
    execFileSync(process.execPath, ['node_modules/vite/bin/vite.js', 'build', 'examples/web', '--logLevel', 'warn'], { stdio: 'inherit' });
    app = await startInstance({ DEMO_MODE: 'true', PING_INTERVAL_MS: '2000', CHAT_ROOM_UPDATE_WINDOW_MS: '0' });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  it('5 tabs of one user: 10 sockets each on its own, 2 shared; every tab gets every event once; the status says who holds them', async () => {
    const solo = await browser.newContext();
    const alone = await openTabs(solo, 5, 'alice', false);
    await each(alone, () => (globalThis as G).__c.chat.join({ Type: 'GLOBAL', RoomTypeObject: 'tabs' }));
    for (const page of alone) await page.waitForFunction(() => (globalThis as G).__c.status.endpoints.chat.state === 'live');
    const before = await sockets();
    await solo.close();
    await socketsBecome({ events: 0, chat: 0 });

    const context = await browser.newContext();
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
});
