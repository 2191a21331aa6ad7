/**
 * What a React developer installs, installed as they would: `npm run pack:client` builds both
 * tarballs; a fresh Vite + React + TypeScript app is created with `npm create vite` in a
 * temporary folder outside the repository; the tarballs (copied there, no `file:` link into the
 * checkout, no dedupe) are installed; a probe with deliberate type errors must have each one
 * reported (types that silently became `any` would not); an SSR script renders every hook in
 * Node; the README's block is built verbatim and driven in Chromium against a real Switchboard
 * (same origin: a small server serves the build, answers /api/token and forwards /ws and /chat).
 * Needs the npm registry (create-vite, vite, react) and /usr/bin/chromium, as .ci/run provides.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { API_KEY, startInstance, token, ws, type Instance } from '../support/harness.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CREATE_VITE = 'vite@9'; // npm create vite@9 runs create-vite 9
const ROOT = process.cwd();

/** The README block the test builds verbatim (marked `ten-lines`). */
function readmeBlock(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const m = /<!-- ten-lines[^>]*-->\n```tsx\n([\s\S]*?)```/.exec(readme);
  if (!m) throw new Error('README.md has no ten-lines block');
  return m[1];
}

/** Each line marked `// error` must get a type error, and no other line may. */
const PROBE = `import { CallError, Switchboard, shareTabs, type ChatMessage, type NodeEvent, type SwitchboardStatus } from '@switchboard/client';
import { useCall, useChatRoom, useSwitchboardStatus } from '@switchboard/react';

const client = new Switchboard({ token: () => 'jwt' });
client.on('node', (e: NodeEvent) => { const n: number = e.Type; console.log(n); }); // error: Type is a string union
client.on('nodes', () => {}); // error: no such event
const message = {} as ChatMessage;
const seq: string = message.Seq ?? 0; // error: Seq is a number
const status: SwitchboardStatus = client.status;
if (status.reason === 'asleep') console.log(status.endpoints.events); // error: not a reason
new Switchboard({ tokn: () => 'x' }); // error: no such option
new Switchboard({ token: () => 'x', share: shareTabs({ probeMs: '2s' }) }); // error: probeMs is a number
const leader: string = client.status.shared?.leader ?? ''; // error: leader is a boolean
client.chat.join({ Type: 'GLOBAL', RoomTypeObject: 'lobby' }).post(42); // error: text is a string
client.call<{ n: number }>('sum', [1, 2]).then((r) => r.n.toFixed(1)).catch((e: unknown) => e instanceof CallError && e.status === 403 && e.data);
client.call('sum', [1, 2], { timeoutMs: '5s' }); // error: timeoutMs is a number
client.call('sum').catch((e: CallError) => e.code === 'call_refusd'); // error: not an error code
client.call(42); // error: the method is a string
export function Probe() {
  const room = useChatRoom({ Type: 'GLOBALL', RoomTypeObject: 'x' }); // error: not a room type
  const live: boolean = useSwitchboardStatus().state; // error: a string union
  const whoami = useCall<{ name: string }>('whoami');
  void whoami.call({ verbose: true }, { signal: new AbortController().signal }).then((me) => me.name.length);
  const name: number = whoami.data?.name ?? 0; // error: name is a string
  if (whoami.error?.code === 'call_timout') whoami.reset(); // error: not an error code
  const busy: string = whoami.loading; // error: loading is a boolean
  return room.posts.filter((p) => p.state === 'lost').length + Number(live) + seq.length + leader.length + name + busy.length; // error: not a post state
}
`;

/** Renders a component using every hook with react-dom/server, in Node, from the installed packages. */
const SSR = `import { createElement as h } from 'react';
import { renderToString } from 'react-dom/server';
import { Switchboard, shareTabs } from '@switchboard/client';
import * as hooks from '@switchboard/react';
const client = new Switchboard({ token: () => 'jwt', share: shareTabs() }); // module scope, no page: must not throw
function All() {
  const status = hooks.useSwitchboardStatus();
  const room = hooks.useChatRoom({ Type: 'GLOBAL', RoomTypeObject: 'lobby' });
  hooks.useOnReset(() => {});
  const nodes = hooks.useNodeEvents('w1');
  const task = hooks.useTask('t');
  const tasks = hooks.useTasks();
  const activity = hooks.useActivity();
  const push = hooks.usePush({ room: 'r' });
  const call = hooks.useCall('whoami');
  hooks.useSwitchboard();
  return h('p', null, [status.state, room.messages.length, room.posts.length, nodes.length, String(task), tasks.size, activity.length, push.length, call.loading].join(','));
}
const html = renderToString(h(hooks.SwitchboardProvider, { client }, h(All)));
console.log(html);
client.close();
`;

function run(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '', CI: 'true' } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' };

/** The app's origin: the build, /api/token, and /ws and /chat forwarded to the service. */
function serveApp(dist: string, service: Instance, jwt: () => string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/api/token') return void res.end(jwt());
    const file = join(dist, path === '/' ? 'index.html' : path);
    if (!file.startsWith(dist) || !existsSync(file)) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  const port = Number(new URL(service.url).port);
  server.on('upgrade', (req, socket, head) => {
    const upstream = connect(port, '127.0.0.1', () => {
      const headers = Object.entries(req.headers).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : v}`);
      upstream.write(`${req.method} ${req.url} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`);
      upstream.write(head);
      socket.pipe(upstream).pipe(socket);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('the packages as a React developer installs them', () => {
  let dir: string;
  let app: string;
  let service: Instance;
  let site: Server;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
    run('npm', ['run', 'pack:client'], ROOT);
    dir = mkdtempSync(join(tmpdir(), 'switchboard-app-'));
    for (const tgz of readdirSync(join(ROOT, 'dist/packages')).filter((f) => f.endsWith('.tgz'))) copyFileSync(join(ROOT, 'dist/packages', tgz), join(dir, tgz));
    run('npm', ['create', '--yes', CREATE_VITE, 'app', '--', '--template', 'react-ts', '--no-interactive'], dir);
    app = join(dir, 'app');
    run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline'], app);
    run('npm', ['install', '--no-audit', '--no-fund', '../switchboard-client-0.1.0.tgz', '../switchboard-react-0.1.0.tgz'], app);
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => (site ? site.close(r) : r(undefined)));
    await service?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('installs from the tarballs alone: one copy of each package, react from the app', () => {
    const tree = JSON.parse(run('npm', ['ls', '--all', '--json'], app));
    const client = tree.dependencies['@switchboard/client'];
    const react = tree.dependencies['@switchboard/react'];
    expect(client.resolved).toMatch(/switchboard-client-0\.1\.0\.tgz$/);
    expect(react.resolved).toMatch(/switchboard-react-0\.1\.0\.tgz$/);
    // The bindings' peers are the app's own: no nested client or react.
    expect(existsSync(join(app, 'node_modules/@switchboard/react/node_modules'))).toBe(false);
    for (const pkg of ['client', 'react']) {
      const files = readdirSync(join(app, 'node_modules/@switchboard', pkg), { recursive: true, encoding: 'utf8' });
      for (const f of files.filter((f) => /\.(js|ts|map)$/.test(f))) expect(readFileSync(join(app, 'node_modules/@switchboard', pkg, f), 'utf8')).not.toContain('../../src/');
    }
  });

  it('reports every deliberate type error of the probe (the types are real, not any)', () => {
    writeFileSync(join(app, 'src/probe.tsx'), PROBE);
    const r = spawnSync('npx', ['tsc', '-p', 'tsconfig.app.json', '--noEmit', '--pretty', 'false'], { cwd: app, encoding: 'utf8' });
    rmSync(join(app, 'src/probe.tsx'));
    const reported = new Set([...`${r.stdout}${r.stderr}`.matchAll(/src\/probe\.tsx[(:](\d+)/g)].map((m) => Number(m[1])));
    const expected = PROBE.split('\n').flatMap((line, i) => (line.includes('// error') ? [i + 1] : []));
    expect(expected).toHaveLength(17);
    expect([...reported].sort((a, b) => a - b)).toEqual(expected);
  }, 120_000);

  it('renders every hook on the server (SSR) without a socket or a throw', () => {
    writeFileSync(join(app, 'ssr.mjs'), SSR);
    const html = run(process.execPath, ['ssr.mjs'], app);
    expect(html).toContain('<p>connecting,0,0,0,undefined,0,0,0,false</p>');
  });

  it("builds the README's block verbatim and runs it in Chromium against the service", async () => {
    writeFileSync(join(app, 'src/Switchboard.tsx'), readmeBlock());
    writeFileSync(
      join(app, 'src/main.tsx'),
      `import { StrictMode } from 'react'\nimport { createRoot } from 'react-dom/client'\nimport { App } from './Switchboard.tsx'\n\ncreateRoot(document.getElementById('root')!).render(<StrictMode><App /></StrictMode>)\n`,
    );
    run('npm', ['run', 'build'], app); // tsc -b && vite build, as the template has it

    service = await startInstance({});
    const jwt = () => token({ name: 'alice', workspaces: [ws('w1', 'projects', 'pydiods1/projects')] });
    site = await serveApp(join(app, 'dist'), service, jwt);
    const origin = `http://127.0.0.1:${(site.address() as { port: number }).port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
    page = await browser.newPage();
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => m.type() === 'error' && !m.text().includes('favicon') && errors.push(m.text()));
    await page.goto(origin);
    await page.waitForFunction(() => (globalThis as unknown as { document: { body: { textContent: string } } }).document.body.textContent.includes('live · alice'), undefined, { timeout: 15_000 });

    const res = await fetch(`${service.url}/api/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'topic.pydio.tree.nodes.changes', data: { Type: 'DELETE', Source: { Uuid: 'n-1', Path: 'pydiods1/projects/old.txt' } } }),
    });
    expect(res.status).toBe(202);
    await page.locator('li', { hasText: 'DELETE projects/old.txt' }).waitFor({ timeout: 10_000 });

    await page.fill('input[aria-label="message"]', 'hello from a fresh app');
    await page.press('input[aria-label="message"]', 'Enter');
    await page.locator('p', { hasText: 'alice: hello from a fresh app' }).waitFor({ timeout: 10_000 });
    expect(errors).toEqual([]);
  }, 120_000);
});
