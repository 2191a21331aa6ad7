/**
 * Calls over the socket (PROTOCOL 9) in Debian's Chromium (playwright-core), against a real
 * Switchboard and a real local backend verifying the identity token: the React hook `useCall`
 * (the latest call's answer wins, errors with their code, no unhandled rejection), and a call
 * from a tab that does not hold the shared connection (`share: shareTabs()`): through the hub to
 * the holder, its answer to that tab only, and `disconnected` when the holder goes away.
 *
 * The page is bundled here with esbuild from the packages' sources (no demo: demo mode refuses
 * CALL_ROUTES) and served by a small server that also mints the page's tokens.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { build } from 'esbuild';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { CALL_SECRET, CallBackend } from '../support/call-backend.js';
import { API_KEY, startInstance, token, ws, type Instance } from '../support/harness.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

/** The page's globals as seen from page functions (no DOM library in the server's type check). */
type G = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * `?service=<url>&user=<login>[&share]`: a client (shared with `share`) whose tokens come from
 * /api/token, and, unless `share`, two components using `useCall` under StrictMode.
 */
const PAGE = `
import { StrictMode, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { Switchboard, shareTabs } from '@switchboard/client';
import { SwitchboardProvider, useCall } from '@switchboard/react';

const q = new URLSearchParams(location.search);
const token = async () => (await fetch('/api/token?user=' + q.get('user'))).text();
const client = new Switchboard({ url: q.get('service')!, token, backoff: { initialMs: 100, maxMs: 500 }, share: q.has('share') ? shareTabs({ probeMs: 1000 }) : undefined });
(window as any).__c = client;

function Caller({ method }: { method: string }) {
  const { call, data, error, loading } = useCall<{ released?: string }>(method);
  const [key, setKey] = useState('');
  const [ticks, setTicks] = useState(0);
  return (
    <section data-method={method}>
      <input aria-label={method + ' key'} value={key} onChange={(e) => setKey(e.target.value)} />
      <button onClick={() => { call({ key, node: key }); }}>call {method}</button>
      <button onClick={() => setTicks((t) => t + 1)}>tick {method}</button>
      <output data-testid={method + '-state'}>{JSON.stringify({ data: data ?? null, code: error?.code ?? null, status: error?.status ?? null, loading, ticks })}</output>
    </section>
  );
}

function Callers() {
  const [shown, setShown] = useState(true);
  return (
    <>
      <button onClick={() => setShown(false)}>unmount</button>
      {shown && <Caller method="slow" />}
      <Caller method="refuse" />
    </>
  );
}

if (!q.has('share')) {
  createRoot(document.getElementById('root')!).render(<StrictMode><SwitchboardProvider client={client}><Callers /></SwitchboardProvider></StrictMode>);
}
`;

describe('calls in Chromium: the React hook, and a call from a tab that does not hold the shared connection', () => {
  let service: Instance;
  let backend: CallBackend;
  let site: Server;
  let origin: string;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  /** A page of the site (`query` after `?service=...`), its errors collected. */
  async function open(context: BrowserContext, query: string): Promise<{ page: Page; errors: string[] }> {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => m.type() === 'error' && !m.text().includes('favicon') && errors.push(m.text()));
    await page.goto(`${origin}/?service=${encodeURIComponent(service.url)}&${query}`);
    await page.waitForFunction(() => (globalThis as G).__c?.status.state === 'live', undefined, { timeout: 15_000 });
    return { page, errors };
  }

  const state = async (page: Page, method: string) => JSON.parse((await page.textContent(`[data-testid="${method}-state"]`))!);
  /** Waits until the component's state matches. */
  async function stateBecomes(page: Page, method: string, expected: Record<string, unknown>): Promise<void> {
    await page.waitForFunction(
      ([method, expected]) => {
        const now = JSON.parse((globalThis as G).document.querySelector(`[data-testid="${method}-state"]`).textContent);
        return Object.entries(expected).every(([k, v]) => JSON.stringify(now[k]) === JSON.stringify(v));
      },
      [method, expected] as const,
      { timeout: 10_000 },
    );
  }
  async function callFrom(page: Page, method: string, key: string): Promise<void> {
    await page.fill(`input[aria-label="${method} key"]`, key);
    await page.click(`text=call ${method}`);
  }

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
    const bundle = await build({
      stdin: { contents: PAGE, loader: 'tsx', resolveDir: here('.') },
      bundle: true,
      format: 'esm',
      write: false,
      jsx: 'automatic',
      define: { 'process.env.NODE_ENV': '"development"' },
      alias: { '@switchboard/client': here('../../client/src/index.ts'), '@switchboard/react': here('../../react/src/index.tsx') },
      logLevel: 'warning',
    });
    const script = bundle.outputFiles[0].text;
    const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>calls</title><link rel="icon" href="data:,"></head><body><div id="root"></div><script type="module" src="/page.js"></script></body></html>`;
    backend = await CallBackend.start();
    service = await startInstance({ CALL_ROUTES: backend.routes('echo', 'slow', 'refuse'), CALL_SIGNING_SECRET: CALL_SECRET, CALL_TIMEOUT_MS: '10000', PING_INTERVAL_MS: '2000' });
    site = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/api/token') return void res.end(token({ name: url.searchParams.get('user') ?? 'anon', workspaces: [ws('w1', 'projects', 'pydiods1/projects')] }));
      if (url.pathname === '/page.js') return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
      res.writeHead(200, { 'content-type': 'text/html' }).end(html);
    });
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(site.address() as { port: number }).port}`; // loopback: a secure context (Web Locks)
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
  }, 90_000);

  afterEach(async () => {
    for (const context of contexts.splice(0)) await context.close();
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => (site ? site.close(r) : r(undefined)));
    await service?.close();
    await backend?.close();
  });

  async function newContext(): Promise<BrowserContext> {
    const context = await browser.newContext();
    contexts.push(context);
    return context;
  }

  it('useCall: the latest call wins (an earlier one answering later is ignored), errors carry the code, nothing is unhandled', async () => {
    const { page, errors } = await open(await newContext(), 'user=alice');
    await callFrom(page, 'slow', 'first');
    await backend.arrivedWith('"first"');
    await stateBecomes(page, 'slow', { loading: true, data: null });
    await callFrom(page, 'slow', 'second');
    await backend.arrivedWith('"second"');
    backend.release('second');
    await stateBecomes(page, 'slow', { loading: false, data: { released: 'second' } });
    // The first answers now: it reaches the page, and must not replace the second's.
    backend.release('first');
    await page.waitForFunction(() => (globalThis as G).__c.calls.pending.size === 0);
    await page.click('text=tick slow'); // barrier: a render after the first's answer was handled
    await stateBecomes(page, 'slow', { ticks: 1 });
    expect(await state(page, 'slow')).toMatchObject({ data: { released: 'second' }, code: null, loading: false });

    // A refusal: its code and status in `error`; nobody awaited it, and nothing was unhandled.
    await callFrom(page, 'refuse', 'n1');
    await stateBecomes(page, 'refuse', { code: 'call_refused', status: 403, loading: false, data: null });

    // Unmounted while its call runs: the answer lands nowhere, without an error.
    await callFrom(page, 'slow', 'third');
    await backend.arrivedWith('"third"');
    await page.click('text=unmount');
    backend.release('third');
    await page.waitForFunction(() => (globalThis as G).__c.calls.pending.size === 0);
    await page.click('text=tick refuse');
    await stateBecomes(page, 'refuse', { ticks: 1 });
    expect(errors).toEqual([]);
  }, 60_000);

  it('shared tabs: each tab calls through the one connection and gets its own answer only; the holder leaving rejects the calls in flight with disconnected', async () => {
    const context = await newContext();
    const tabs = [await open(context, 'user=alice&share'), await open(context, 'user=alice&share')];
    for (const { page } of tabs) await page.waitForFunction(() => (globalThis as G).__c.status.shared?.tabs === 2);
    const leaders: boolean[] = await Promise.all(tabs.map(({ page }) => page.evaluate(() => (globalThis as G).__c.status.shared.leader)));
    expect(leaders.filter(Boolean)).toHaveLength(1);
    const holder = tabs[leaders.indexOf(true)].page;
    const other = tabs[leaders.indexOf(false)].page;
    // What reaches each tab's client from the shared connection.
    for (const page of [holder, other]) {
      await page.evaluate(() => {
        const w = globalThis as G;
        w.__delivered = [];
        const hooks = w.__c.connection.hooks;
        const frame = hooks.frame;
        hooks.frame = (f: unknown) => (w.__delivered.push(f), frame(f));
      });
    }
    const call = (page: Page, params: object) => page.evaluate((p) => (globalThis as G).__c.call('echo', p), params) as Promise<G>;
    const answers = [await call(other, { from: 'other' }), await call(holder, { from: 'holder' })];
    expect(answers.map((a) => a.params.from)).toEqual(['other', 'holder']);
    // One session for both: the identity token names it.
    const sessions: string[] = await Promise.all([other, holder].map((p) => p.evaluate(() => (globalThis as G).__c.session.sessionId)));
    expect(answers.map((a) => a.claims.sid)).toEqual(sessions.map((s) => s.split('.')[0]));
    expect(new Set(answers.map((a) => a.claims.sid)).size).toBe(1);

    // Barrier: a push to the user reaches both tabs after both answers went out.
    const res = await fetch(`${service.url}/api/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'switchboard.push', data: { pushToUser: 'alice', payload: { barrier: 1 } } }),
    });
    expect(res.status).toBe(202);
    const delivered = await Promise.all(
      [other, holder].map(async (page) => {
        await page.waitForFunction(() => (globalThis as G).__delivered.some((f: G) => f.barrier === 1));
        return (await page.evaluate(() => (globalThis as G).__delivered)) as G[];
      }),
    );
    const answersIn = (frames: G[]) => frames.filter((f) => f['@type'] === 'result').map((f) => f.result.params.from);
    expect(answersIn(delivered[0])).toEqual(['other']);
    expect(answersIn(delivered[1])).toEqual(['holder']);

    // A call in flight from the other tab when the holder closes: disconnected, and the other tab takes over.
    const pending = other.evaluate(() => (globalThis as G).__c.call('slow', { key: 'handover' }).then(
      () => 'resolved',
      (e: G) => `${e.name} ${e.code} ${e.local}`,
    ));
    const held = await backend.arrivedWith('"handover"');
    await holder.close({ runBeforeUnload: true });
    expect(await pending).toBe('CallError disconnected true');
    for (let i = 0; i < 100 && !held.aborted; i++) await new Promise((r) => setTimeout(r, 20));
    expect(held.aborted).toBe(true); // the holder's session closed, and the service dropped the request
    backend.release('handover');
    await other.waitForFunction(() => (globalThis as G).__c.status.state === 'live' && (globalThis as G).__c.status.shared.leader, undefined, { timeout: 15_000 });
    expect(await call(other, { from: 'other, now holding' })).toMatchObject({ params: { from: 'other, now holding' } });
    expect(tabs[leaders.indexOf(false)].errors).toEqual([]);
  }, 60_000);
});
