/**
 * The demo page (examples/web, React in StrictMode, @switchboard/react) in Debian's Chromium,
 * driven by playwright-core, against a real Switchboard in demo mode: two browser contexts as
 * alice and bob. Barrier, chat and presence, one user offline while events flow, a restart.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page, type WebSocketRoute } from 'playwright-core';
import { demoKey, restart } from '../support/client-harness.js';
import { startInstance, type Instance } from '../support/harness.js';

/** The service resumes (PROTOCOL 6): a client that was offline gets every event it missed, no reset. */
const RESUME_SERVED = true;

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

type Frame = Record<string, unknown>;

/**
 * The page's globals, as the functions run in the page see them. Typed here rather than with the
 * DOM library, which would leak browser globals into the server's type check.
 */
interface PageElement {
  textContent: string | null;
  value?: number;
}
interface PageGlobals {
  document: { querySelector(selector: string): PageElement | null; querySelectorAll(selector: string): ArrayLike<PageElement> };
  __switchboard?: { on(kind: string, fn: (e: unknown) => void): void };
  __nodes: unknown[];
  __appEffects?: number;
}

/** One user's page, its sockets routed through the test: counted, and cut off on demand. */
class UserPage {
  readonly sent: Array<{ path: string; frame: Frame }> = [];
  readonly opened: string[] = [];
  private offline = false;
  private readonly live = new Set<WebSocketRoute>();

  private constructor(readonly page: Page) {}

  static async open(browser: Browser, base: string, user: string): Promise<UserPage> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 600 } });
    const p = new UserPage(await context.newPage());
    await p.page.routeWebSocket(/\/(ws|chat)$/, (route) => p.route(route));
    await p.page.goto(`${base}/demo/?user=${user}&fast`);
    await p.page.evaluate(() => {
      const w = globalThis as unknown as PageGlobals;
      w.__nodes = [];
    });
    await p.waitFor(() => Boolean((globalThis as unknown as PageGlobals).__switchboard));
    await p.page.evaluate(() => {
      const w = globalThis as unknown as PageGlobals;
      w.__switchboard!.on('node', (e) => w.__nodes.push(e));
    });
    return p;
  }

  private route(route: WebSocketRoute): void {
    const path = new URL(route.url()).pathname;
    if (this.offline) return void route.close({ code: 4000, reason: 'offline (test)' });
    this.opened.push(path);
    this.live.add(route);
    const server = route.connectToServer();
    route.onMessage((m) => {
      if (typeof m === 'string') this.sent.push({ path, frame: JSON.parse(m) });
      server.send(m);
    });
    route.onClose((code, reason) => {
      this.live.delete(route);
      void server.close({ code, reason });
    });
    server.onClose((code, reason) => {
      this.live.delete(route);
      void route.close({ code, reason });
    });
  }

  /** Cuts both sockets and refuses new ones until `goOnline`. */
  async goOffline(): Promise<void> {
    this.offline = true;
    for (const route of this.live) await route.close({ code: 4000, reason: 'offline (test)' });
    this.live.clear();
  }

  goOnline(): void {
    this.offline = false;
  }

  waitFor(predicate: () => boolean, timeout = 15_000): Promise<unknown> {
    return this.page.waitForFunction(predicate, undefined, { timeout });
  }

  /** Waits until the element with that test id contains the text. */
  async waitText(testId: string, text: string, timeout = 15_000): Promise<void> {
    await this.page.waitForFunction(
      ([id, t]) => Array.from((globalThis as unknown as PageGlobals).document.querySelectorAll(`[data-testid="${id}"]`)).some((e) => e.textContent?.includes(t)),
      [testId, text] as const,
      { timeout },
    );
  }

  texts(testId: string): Promise<string[]> {
    return this.page.$$eval(`[data-testid="${testId}"]`, (els) => els.map((e) => e.textContent ?? ''));
  }

  nodePaths(): Promise<string[]> {
    return this.page.evaluate(() =>
      ((globalThis as unknown as PageGlobals).__nodes as Array<{ Target?: { Path?: string }; Source?: { Path?: string } }>).map((e) => (e.Target ?? e.Source)?.Path ?? ''),
    );
  }

  async resets(): Promise<number> {
    return Number(await this.page.textContent('[data-testid="resets"]'));
  }

  async chat(text: string): Promise<void> {
    await this.page.fill('[data-testid="chat-input"]', text);
    await this.page.click('[data-testid="chat-send"]');
  }
}

describe('the demo page in Chromium', () => {
  let app: Instance;
  /** The demo's own API key, generated at its start: what its page publishes with. */
  let apiKey: string;
  let browser: Browser;
  let alice: UserPage, bob: UserPage;
  let n = 0;


  async function publishFile(workspace: 'projects' | 'common'): Promise<string> {
    const path = `demo/${workspace}/browser-${++n}.txt`;
    const res = await fetch(`${app.url}/api/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'topic.pydio.tree.nodes.changes', data: { Type: 'DELETE', Source: { Uuid: `b-${n}`, Path: path } } }),
    });
    expect(res.status).toBe(202);
    return `${workspace}/browser-${n}.txt`;
  }

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
    // The page is bundled from the packages' sources: no other build needed. A development build
    // of React, so that StrictMode really mounts every component twice (checked below).
    execFileSync(process.execPath, ['node_modules/vite/bin/vite.js', 'build', 'examples/web', '--logLevel', 'warn'], { stdio: 'inherit', env: { ...process.env, NODE_ENV: 'development' } });
    // Embedded mode (no Redis), default channels, its own secret and key, as `npm run demo` runs it.
    app = await startInstance({ DEMO_MODE: 'true' });
    apiKey = await demoKey(app);
    // Playwright starts Chromium with a fresh temporary --user-data-dir of its own.
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
    alice = await UserPage.open(browser, app.url, 'alice');
    bob = await UserPage.open(browser, app.url, 'bob');
    await alice.waitText('status', 'live');
    await bob.waitText('status', 'live');
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  it('subscribes once per socket in StrictMode: one /ws, one /chat, one subscribe each, one JOIN', async () => {
    await alice.waitText('presence', 'alice');
    for (const user of [alice, bob]) {
      expect(user.opened.sort()).toEqual(['/chat', '/ws']);
      const subscribes = user.sent.filter((s) => s.frame['@type'] === 'subscribe').map((s) => s.path);
      expect(subscribes.sort()).toEqual(['/chat', '/ws']);
      const joins = user.sent.filter((s) => s.frame['@type'] === 'JOIN' && !s.frame.Message);
      expect(joins).toHaveLength(1);
      expect(user.sent.filter((s) => s.frame['@type'] === 'LEAVE')).toEqual([]);
      // Not vacuous: StrictMode did run the effects twice.
      expect(await user.page.evaluate(() => (globalThis as unknown as PageGlobals).__appEffects)).toBe(2);
    }
  });

  it('mounts a chat room and a push room while live in StrictMode: one JOIN / joinRoom, no LEAVE / leaveRoom', async () => {
    const frames = (type: string, key: string, value: string) =>
      alice.sent.filter((s) => s.frame['@type'] === type && !(s.frame.Message as { Message?: string } | undefined)?.Message && JSON.stringify(s.frame[key]).includes(value));
    await alice.page.click('[data-testid="room-random"]');
    await alice.waitText('presence', 'alice');
    expect(frames('JOIN', 'Room', '"random"')).toHaveLength(1);
    expect(frames('LEAVE', 'Room', '"random"')).toHaveLength(0);
    expect(frames('LEAVE', 'Room', '"lobby"')).toHaveLength(1);
    await alice.page.click('[data-testid="room-lobby"]');
    await alice.waitText('presence', 'bob');

    await alice.page.click('[data-testid="user-room"]');
    await alice.waitFor(() => Boolean((globalThis as unknown as PageGlobals).document.querySelector('[data-testid="room-feed"]')));
    const res = await fetch(`${app.url}/api/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'switchboard.push', data: { pushToRoom: 'user:alice', payload: { room: 'user:alice', text: 'to the room' } } }),
    });
    expect(res.status).toBe(202);
    await alice.waitText('room-feed', '1 message');
    expect(frames('joinRoom', 'room', 'user:alice')).toHaveLength(1);
    expect(frames('leaveRoom', 'room', 'user:alice')).toHaveLength(0);
    await alice.page.click('[data-testid="user-room"]');
    await alice.waitFor(() => !(globalThis as unknown as PageGlobals).document.querySelector('[data-testid="room-feed"]'));
    // The route records what the page sent a moment later: poll, then count.
    for (let i = 0; i < 100 && frames('leaveRoom', 'room', 'user:alice').length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(frames('leaveRoom', 'room', 'user:alice')).toHaveLength(1);
  });

  it('shows alice an event of her workspace that bob must not get (barrier: a shared one after it)', async () => {
    const secret = await publishFile('projects');
    const shared = await publishFile('common');
    await alice.waitText('nodes-demo-projects', secret);
    await alice.waitText('nodes-demo-common', shared);
    await bob.waitText('nodes-demo-common', shared);
    // Bob's session receives in order: the shared event arrived, so the secret one would have too.
    expect(await bob.nodePaths()).toEqual([shared]);
    // Each event rendered once: the hooks did not subscribe twice under StrictMode.
    expect((await alice.texts('node-event')).map((t) => t.replace(/^DELETE /, ''))).toEqual([secret, shared]);
  });

  it('lets them chat and see each other in the room', async () => {
    await alice.waitText('presence', 'bob');
    await bob.waitText('presence', 'alice');
    await alice.chat('hello bob');
    await bob.waitText('chat-message', 'alice: hello bob');
    await bob.chat('hi alice');
    await alice.waitText('chat-message', 'bob: hi alice');
    // The publish panel (POST /api/publish with the demo's API key): a task and an activity.
    await bob.page.click('text=notify alice');
    await alice.waitText('activity-item', 'bob update report.pdf');
    for (let i = 0; i < 2; i++) await alice.page.click('text=advance my task');
    await alice.waitFor(() => (globalThis as unknown as PageGlobals).document.querySelector('[data-testid="task-compress-alice"] progress')?.value === 0.5);
    await alice.page.click('text=file in projects');
    await alice.waitText('nodes-demo-projects', 'projects/file-');
    // Written to test-results/ on every run; UPDATE_SCREENSHOTS=1 refreshes the README's copy.
    await alice.page.locator('.page').screenshot({ path: process.env.UPDATE_SCREENSHOTS ? 'docs/images/demo.png' : 'test-results/demo.png' });
  });

  it('brings bob back after he was offline while events were published, without a reload', async () => {
    const resetsBefore = await bob.resets();
    await bob.goOffline();
    await bob.waitText('status', 'offline');
    await alice.waitFor(() => !(globalThis as unknown as PageGlobals).document.querySelector('[data-testid="presence"]')?.textContent?.includes('bob'));
    const missed = [await publishFile('common'), await publishFile('common'), await publishFile('common')];
    for (const path of missed) await alice.waitText('nodes-demo-common', path);

    bob.goOnline();
    await bob.waitText('status', 'live');
    await alice.waitText('presence', 'bob'); // re-joined the chat room at once
    const after = await publishFile('common');
    await bob.waitText('nodes-demo-common', after);
    const seen = await bob.nodePaths();
    if (RESUME_SERVED) {
      expect(seen.filter((p) => missed.includes(p))).toEqual(missed);
      expect(await bob.resets()).toBe(resetsBefore);
    } else {
      // Not resumed: the client says so, and the app reloads what it shows.
      expect(seen.filter((p) => missed.includes(p))).toEqual([]);
      expect(await bob.resets()).toBe(resetsBefore + 1);
    }
  }, 40_000);

  it('survives a service restart on both pages: live again, events and chat flow', async () => {
    app = await restart(app);
    // A new demo, a new secret and key: the pages get new tokens (after their old ones are refused), the publisher a new key.
    apiKey = await demoKey(app);
    for (const user of [alice, bob]) await user.waitText('status', 'live');
    await alice.waitText('presence', 'bob');
    await bob.waitText('presence', 'alice');
    const shared = await publishFile('common');
    await alice.waitText('nodes-demo-common', shared);
    await bob.waitText('nodes-demo-common', shared);
    await bob.chat('back after the restart');
    await alice.waitText('chat-message', 'bob: back after the restart');
  }, 40_000);
});
