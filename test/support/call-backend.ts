/**
 * A real HTTP backend for calls over the socket (PROTOCOL 9), on a random loopback port: it
 * verifies each call's identity token as a backend should (signature, issuer, audience = the
 * method, body hash) and answers per route. Slow routes hold their answer until the test
 * releases it; every request is recorded, with whether the service gave up on it.
 */
import { jwtVerify, type JWTPayload } from 'jose';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export const CALL_SECRET = 'call-signing-secret-for-the-tests-0123456789';

export interface Received {
  route: string;
  authorization?: string;
  body: string;
  /** The verified claims, or why the token was refused. */
  claims?: JWTPayload;
  refused?: string;
  /** The service closed the request before an answer was complete (timeout, cancel, too large). */
  aborted: boolean;
}

export class CallBackend {
  readonly received: Received[] = [];
  private readonly held = new Map<string, () => void>();
  private readonly waiters: Array<() => void> = [];

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(secret = CALL_SECRET): Promise<CallBackend> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const backend = new CallBackend(server, `http://127.0.0.1:${port}`);
    server.on('request', (req, res) => void backend.handle(req, res, secret));
    return backend;
  }

  /** CALL_ROUTES for the methods of this backend (`<method>=<url>/<method>`), plus `extra`. */
  routes(...methods: string[]): string {
    return methods.map((m) => `${m}=${this.url}/${m}`).join(',');
  }

  /** Resolves once `n` requests of `route` arrived. */
  async arrived(route: string, n = 1, timeoutMs = 3000): Promise<Received[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = this.received.filter((r) => r.route === route);
      if (got.length >= n) return got;
      if (Date.now() > deadline) throw new Error(`${n} request(s) of ${route} expected, got ${got.length}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 20);
      });
    }
  }

  /** The request whose body contains `text`, once it arrived. */
  async arrivedWith(text: string, timeoutMs = 3000): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = this.received.find((r) => r.body.includes(text));
      if (got) return got;
      if (Date.now() > deadline) throw new Error(`no request with ${text}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 20);
      });
    }
  }

  /** Answers the held request whose params had `key`. */
  release(key: string): void {
    this.held.get(key)?.();
    this.held.delete(key);
  }

  isHeld(key: string): boolean {
    return this.held.has(key);
  }

  async close(): Promise<void> {
    for (const release of this.held.values()) release();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private async handle(req: IncomingMessage, res: ServerResponse, secret: string): Promise<void> {
    // Before anything else: the service may go away while the body is read.
    const seen: { gone: boolean; record?: Received } = { gone: false };
    res.on('close', () => {
      seen.gone = true;
      if (seen.record) seen.record.aborted = !res.writableFinished;
    });
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const route = (req.url ?? '').slice(1);
    const record: Received = { route, authorization: req.headers.authorization, body: raw.toString(), aborted: seen.gone && !res.writableFinished };
    seen.record = record;
    let body: { method?: string; params?: Record<string, unknown> } = {};
    try {
      body = JSON.parse(raw.toString());
      // What every backend should do: the signature, who issued it, for which method, for this body.
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
      const { payload } = await jwtVerify(token, new TextEncoder().encode(secret), { issuer: 'switchboard', audience: body.method, algorithms: ['HS256'] });
      if (payload.body_sha256 !== createHash('sha256').update(raw).digest('hex')) throw new Error('body does not match the token');
      record.claims = payload;
    } catch (err) {
      record.refused = (err as Error).message;
    }
    this.received.push(record);
    this.waiters.splice(0).forEach((w) => w());
    if (record.refused) return void res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ refused: record.refused }));
    const json = (status: number, value: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
    const params = body.params ?? {};
    switch (route) {
      case 'echo':
      case 'other':
        return void json(200, { claims: record.claims, params });
      case 'slow':
        // Held until the test releases it.
        this.held.set(String(params.key), () => json(200, { released: params.key }));
        return;
      case 'never':
        return; // answers nothing, ever
      case 'fail':
        return void res.writeHead(500, { 'content-type': 'text/plain' }).end('Error: secret stack trace at /srv/app.js:12');
      case 'refuse':
        return void json(403, { reason: 'not yours', node: params.node });
      case 'empty':
        return void res.writeHead(204).end();
      case 'notjson':
        return void res.writeHead(200, { 'content-type': 'text/plain' }).end('hello');
      case 'huge-declared':
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(64 * 1024 * 1024) });
        return void res.write('"');
      case 'huge-stream': {
        // No length: chunks go on until the reader goes away.
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('["');
        const chunk = 'x'.repeat(16 * 1024);
        const timer = setInterval(() => (seen.gone ? clearInterval(timer) : res.write(chunk)), 1);
        return;
      }
      case 'redirect':
        return void res.writeHead(307, { location: String(params.to) }).end();
      default:
        return void json(404, { route });
    }
  }
}
