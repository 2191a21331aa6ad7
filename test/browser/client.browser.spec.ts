/**
 * The client's honesty in Debian's Chromium (playwright-core), on the demo page served by a real
 * Switchboard in demo mode: the network cut for 15 s (status leaves "live" at once, nothing lost
 * or doubled after), a service restart (both endpoints back, one status, the server's retry hint),
 * refused posts shown with their code, history paging order with many messages in one second,
 * the layout at 360 px and an axe-core accessibility check.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { demoKey, restart } from '../support/client-harness.js';
import { Client, startInstance, type Frame, type Instance } from '../support/harness.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** The page's globals as seen from page functions (no DOM library in the server's type check). */
type G = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('the client in Chromium: liveness, restarts, refusals, order; the demo at 360 px and for axe', () => {
  let app: Instance;
  let browser: Browser;
  let n = 0;

  async function publishFile(): Promise<string> {
    const path = `demo/common/live-${++n}.txt`;
    const res = await fetch(`${app.url}/api/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await demoKey(app)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'topic.pydio.tree.nodes.changes', data: { Type: 'DELETE', Source: { Uuid: `l-${n}`, Path: path } } }),
    });
    expect(res.status).toBe(202);
    return `common/live-${n}.txt`;
  }

  async function open(user: string, viewport = { width: 1280, height: 700 }): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await page.goto(`${app.url}/demo/?user=${user}&fast`);
    await page.waitForFunction(() => Boolean((globalThis as G).__switchboard), undefined, { timeout: 15_000 });
    await page.evaluate(() => {
      const w = (globalThis as G);
      w.__nodes = [];
      w.__statuses = [];
      w.__switchboard.on('node', (e: G) => w.__nodes.push((e.Target ?? e.Source).Path));
      w.__switchboard.on('status', (s: G) => w.__statuses.push({ at: performance.now(), ...s }));
    });
    // Live on both endpoints (the chat socket opens when the page's chat room mounts).
    await page.waitForFunction(() => (globalThis as G).__switchboard.status.state === 'live' && (globalThis as G).__switchboard.status.endpoints.chat.state === 'live', undefined, { timeout: 15_000 });
    await page.evaluate(() => ((globalThis as G).__statuses = []));
    return { context, page, errors };
  }

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
    execFileSync(process.execPath, ['node_modules/vite/bin/vite.js', 'build', 'examples/web', '--logLevel', 'warn'], { stdio: 'inherit' });
    // Embedded mode, as `npm run demo`; a short ping interval so that liveness shows in seconds;
    // chat rates raised for the ordering test (the refusal test posts faster than 10/s anyway).
    app = await startInstance({ DEMO_MODE: 'true', PING_INTERVAL_MS: '2000', SHUTDOWN_RECONNECT_WINDOW_MS: '1500', CHAT_MESSAGE_RATE: '10', CHAT_USER_MESSAGE_RATE: '200' });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  it('offline for 15 s: leaves "live" at once, says why; back online: every event published meanwhile arrives once', async () => {
    const { context, page, errors } = await open('bob');
    const before = await publishFile();
    await page.waitForFunction((p) => (globalThis as G).__nodes.includes(p), before);

    const cut = await page.evaluate(() => performance.now());
    await context.setOffline(true);
    await page.waitForFunction(() => (globalThis as G).__switchboard.status.state !== 'live', undefined, { timeout: 10_000 });
    const off = await page.evaluate(() => (globalThis as G).__statuses.find((s: G) => s.state !== 'live'));
    const offlineAfterMs = off.at - cut;
    console.log(`offline -> non-live status in ${offlineAfterMs.toFixed(0)} ms (reason ${off.reason})`);
    expect(off).toMatchObject({ state: 'offline', reason: 'offline' });
    expect(offlineAfterMs).toBeLessThan(1000);
    await expect(page.textContent('[data-testid="status"]')).resolves.toContain('offline: offline');

    const missed = [await publishFile(), await publishFile(), await publishFile()];
    await new Promise((r) => setTimeout(r, 15_000));
    expect(await page.evaluate(() => (globalThis as G).__switchboard.status.state)).toBe('offline'); // never "live" while cut off
    await context.setOffline(false);
    await page.waitForFunction(() => (globalThis as G).__switchboard.status.state === 'live', undefined, { timeout: 10_000 });
    const after = await publishFile(); // barrier: live delivery after the replay
    await page.waitForFunction((p) => (globalThis as G).__nodes.includes(p), after, { timeout: 10_000 });
    const seen: string[] = await page.evaluate(() => (globalThis as G).__nodes);
    expect(seen).toEqual([before, ...missed, after]); // resumed: all, in order, none twice
    expect(await page.textContent('[data-testid="resets"]')).toBe('0');
    expect(errors).toEqual([]);
    await context.close();
  }, 60_000);

  it('a silent dead connection (no ping, no close) is declared dead within the interval plus the margin', async () => {
    const { context, page } = await open('carol');
    // From now on the /ws socket hears nothing: it stays open, no close, no error (a dead NAT).
    const cut = await page.evaluate(() => {
      (globalThis as G).__switchboard.connection.socket.onmessage = () => {};
      return performance.now();
    });
    await page.waitForFunction(() => (globalThis as G).__switchboard.status.endpoints.events.state !== 'live', undefined, { timeout: 10_000 });
    const off = await page.evaluate(() => (globalThis as G).__statuses.find((s: G) => s.endpoints.events.state !== 'live'));
    const deadAfterMs = off.at - cut;
    console.log(`silent socket -> non-live status in ${deadAfterMs.toFixed(0)} ms (ping interval 2000 ms)`);
    expect(off.endpoints.events).toMatchObject({ reason: 'unreachable', detail: 'no ping from the server in time' });
    expect(deadAfterMs).toBeLessThan(2000 + 1000 + 1500);
    await page.waitForFunction(() => (globalThis as G).__switchboard.status.state === 'live', undefined, { timeout: 10_000 });
    await context.close();
  }, 40_000);

  it('shows each refused post with its code, keeps its text, loses none of 15 quick posts', async () => {
    const { context, page, errors } = await open('alice');
    await page.waitForSelector('[data-testid="presence"] .user');
    const texts = Array.from({ length: 15 }, (_, i) => `quick ${i}`);
    await page.evaluate((all) => {
      const room = (globalThis as G).__switchboard.chat.rooms.values().next().value;
      room.post('x'.repeat(4001)); // first: the rate limit is checked before the length
      for (const t of all) room.post(t);
    }, texts);
    await page.waitForFunction(() => (globalThis as G).document.querySelectorAll('[data-testid="chat-post"][data-state="pending"]').length === 0, undefined, { timeout: 10_000 });
    // An ack can come before the message itself (which travels through the chat channel): wait until each post is shown or refused.
    await page.waitForFunction(
      (all) => {
        const doc = (globalThis as G).document;
        const texts = (selector: string) => [...doc.querySelectorAll(selector)].map((e: G) => e.textContent ?? '');
        const shown = texts('[data-testid="chat-message"]');
        const refused = texts('[data-testid="chat-post"][data-state="refused"]');
        return all.every((t: string) => shown.some((s) => s.includes(`alice: ${t}`)) || refused.some((s) => s.includes(`${t} not sent`)));
      },
      texts,
      { timeout: 10_000 },
    );
    const shown: string[] = await page.$$eval('[data-testid="chat-message"]', (els) => els.map((e) => e.textContent ?? ''));
    const refused = await page.$$eval('[data-testid="chat-post"][data-state="refused"]', (els) => els.map((e) => [e.getAttribute('data-code'), e.textContent ?? '']));
    const sent = texts.filter((t) => shown.some((s) => s.includes(`alice: ${t}`)));
    const refusedTexts = texts.filter((t) => refused.some(([, s]) => s.includes(`${t} not sent`)));
    expect(sent.length + refusedTexts.length).toBe(15); // each post is accounted for
    expect(refusedTexts.length).toBeGreaterThan(0); // 15 in a burst: over 10/s
    expect(new Set(refused.filter(([, s]) => s.startsWith('alice: quick')).map(([code]) => code))).toEqual(new Set(['rate_limited']));
    expect(refused.find(([, s]) => s.includes('xxxx'))?.[0]).toBe('message_too_long');
    expect(refused.find(([, s]) => s.includes('xxxx'))?.[1]).toContain('message longer than 4000 characters');
    expect(errors).toEqual([]);
    await context.close();
  }, 40_000);

  it('pages the history in the server order when many messages share one second, and live ones interleave', async () => {
    const { context, page } = await open('alice');
    const room = `order-${Date.now()}`;
    // 30 messages posted in a burst from Node (well within a second or two).
    const writer = await Client.subscribed(`${app.wsUrl}/chat`, ((await (await fetch(`${app.url}/demo/api/session?user=bob`)).json()) as { token: string }).token);
    writer.send({ '@type': 'JOIN', Room: { Type: 'GLOBAL', RoomTypeObject: room } });
    const joined = await writer.next((f: Frame) => f['@type'] === 'ROOM_UPDATE');
    const roomUuid = (joined.Room as { Uuid: string }).Uuid;
    /** Posts one message and waits for its ack; a refusal (10 posts/s per session) waits and tries again. */
    const post = async (i: number) => {
      for (let attempt = 0; ; attempt++) {
        const id = `o${i}-${attempt}`;
        writer.send({ '@type': 'POST', id, Message: { RoomUuid: roomUuid, Message: `m${String(i).padStart(2, '0')}` } });
        const answer = await writer.next((f: Frame) => f.id === id, 5000);
        if (answer['@type'] === 'ack') return;
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    // About 10 a second: every second holds many messages of the same Timestamp, split by 7-message pages.
    for (let i = 0; i < 30; i++) await post(i);

    await page.evaluate(async (name) => {
      const w = (globalThis as G);
      const c = new w.__Switchboard({ token: async () => ((await (await fetch("/demo/api/session?user=alice")).json()) as { token: string }).token, pageSize: 7 });
      w.__order = c.chat.join({ Type: 'GLOBAL', RoomTypeObject: name });
    }, room);
    await page.waitForFunction(() => (globalThis as G).__order.snapshot.messages.length === 7);
    for (let more = 0; more < 6; more++) {
      if (more === 2) for (let i = 30; i < 33; i++) await post(i); // live messages while paging
      await page.evaluate(() => (globalThis as G).__order.loadMore());
      await page.waitForFunction((k) => (globalThis as G).__order.snapshot.messages.length >= Math.min(33, 7 * (k + 2)), more, { timeout: 5000 }).catch(() => undefined);
    }
    await page.waitForFunction(() => (globalThis as G).__order.snapshot.messages.length === 33, undefined, { timeout: 10_000 });
    const order: string[] = await page.evaluate(() => (globalThis as G).__order.snapshot.messages.map((m: G) => m.Message));
    expect(order).toEqual(Array.from({ length: 33 }, (_, i) => `m${String(i).padStart(2, '0')}`));
    writer.socket.close();
    await context.close();
  }, 40_000);

  it('after a restart both endpoints come back under one status; it is "live" only when both are, after the server hint', async () => {
    const { context, page } = await open('alice');
    await page.waitForFunction(() => (globalThis as G).__switchboard.status.endpoints.chat.state === 'live');
    await page.evaluate(() => ((globalThis as G).__statuses = []));
    app = await restart(app);
    await page.waitForFunction(() => (globalThis as G).__switchboard.status.state === 'live' && (globalThis as G).__statuses.length > 0, undefined, { timeout: 20_000 });
    const statuses: G[] = await page.evaluate(() => (globalThis as G).__statuses);
    const first = statuses[0];
    expect(first).toMatchObject({ state: 'offline', reason: 'closed by server', code: 1001 });
    expect(first.detail).toMatch(/^server shutting down; retry in \d+ ms$/);
    for (const s of statuses) if (s.state === 'live') expect([s.endpoints.events.state, s.endpoints.chat.state]).toEqual(['live', 'live']);
    await page.waitForSelector('[data-testid="presence"] .user');
    await context.close();
  }, 40_000);

  it('lays the demo out at 360 px without horizontal scrolling, and tells an unknown user so', async () => {
    const { context, page, errors } = await open('alice', { width: 360, height: 740 });
    const widths = await page.evaluate(() => [(globalThis as G).document.documentElement.scrollWidth, (globalThis as G).document.documentElement.clientWidth]);
    expect(widths[0]).toBeLessThanOrEqual(widths[1]);
    await page.goto(`${app.url}/demo/?user=mallory`);
    await page.waitForSelector('[data-testid="problem"]');
    expect(await page.textContent('[data-testid="problem"]')).toContain('mallory');
    // The browser logs the refused session request (HTTP 400) itself; nothing was thrown.
    expect(errors.filter((e) => !e.startsWith('Failed to load resource'))).toEqual([]);
    await context.close();
  }, 30_000);

  it('passes an axe-core check (WCAG 2 A and AA) with no serious or critical violation', async () => {
    const { context, page } = await open('alice');
    await page.waitForSelector('[data-testid="presence"] .user');
    await page.addScriptTag({ path: 'node_modules/axe-core/axe.min.js' });
    const violations: G[] = await page.evaluate(async () => {
      const result = await (globalThis as G).axe.run((globalThis as G).document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
      return result.violations.filter((v: G) => v.impact === 'serious' || v.impact === 'critical').map((v: G) => ({ id: v.id, nodes: v.nodes.map((n: G) => n.target.join(' ')) }));
    });
    expect(violations).toEqual([]);
    await context.close();
  }, 30_000);
});
