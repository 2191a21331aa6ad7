import { Logger, type INestApplicationContext } from '@nestjs/common';
import { AbstractWsAdapter } from '@nestjs/websockets';
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { PING_FRAME, heartbeatSockets, shutdownReason } from '../common/heartbeat.js';
import type { Metrics } from '../metrics/metrics.js';
import { CloseCode } from '../protocol/close-codes.js';
import { Admission, type AdmissionLimits } from './admission.js';
import { upgradePath } from './upgrade-path.js';

export interface SocketLimits extends AdmissionLimits {
  maxFrameBytes: number;
  pingIntervalMs: number;
  pongTimeoutMs: number;
  /** On shutdown, how long sockets get to finish their close handshake before being cut. */
  shutdownGraceMs: number;
  /** On shutdown, each socket is told to retry after a delay drawn in [0, this] (PROTOCOL 7). */
  shutdownReconnectWindowMs: number;
}

/** Extra paths a gateway is also served at (PROTOCOL 1). */
const ALIASES: Record<string, string[]> = { '/ws': ['/ws/event'], '/chat': ['/ws/chat'] };

type LiveSocket = WebSocket & { awaitingPong?: boolean };

const ignore = (): void => undefined;

/** The 'pong' listener of every socket, shared: ws calls it with the socket as `this`. */
function answered(this: LiveSocket): void {
  this.awaitingPong = false;
}

/**
 * Serves the gateways on the HTTP server's port, one `ws` server per path, with the
 * frame-size limit (ws closes 1009 past it) and the ping/pong liveness check.
 *
 * Unlike `WsAdapter` it builds no RxJS pipeline per connection: the gateways read their
 * own frames (see `FrameReader`), which keeps an idle socket near the cost of bare `ws`
 * (bench/idle-sockets.mjs measures both).
 */
export class SocketAdapter extends AbstractWsAdapter {
  private readonly log = new Logger(SocketAdapter.name);
  private readonly servers = new Map<string, WebSocketServer>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly admission: Admission;
  /** Refusal reasons already logged: each is logged once, then only counted. */
  private readonly logged = new Set<string>();

  constructor(
    app: INestApplicationContext,
    private readonly limits: SocketLimits,
    private readonly metrics: Metrics,
  ) {
    super(app);
    this.admission = new Admission(limits);
    if (!limits.allowedOrigins.length) this.log.warn('No ALLOWED_ORIGINS: WebSocket connections are accepted from any Origin');
    this.httpServer.on('upgrade', this.route);
  }

  create(_port: number, options: { path: string }): WebSocketServer {
    const server = new WebSocketServer({ noServer: true, maxPayload: this.limits.maxFrameBytes });
    for (const path of [options.path, ...(ALIASES[options.path] ?? [])]) this.servers.set(path, server);
    server.on('connection', (socket: LiveSocket) => {
      socket.on('pong', answered);
      // A socket error (bad frame, reset) is the client's: ws closes the socket itself.
      socket.on('error', ignore);
    });
    this.watchLiveness(server);
    return server;
  }

  /**
   * Not bound: no gateway has a `handleDisconnect` (each endpoint's SessionHost listens to
   * 'close' itself), and Nest's callback would keep a closure and a `once` wrapper per socket.
   */
  bindClientDisconnect(): void {}

  /** Frames are read by the gateways themselves; see the class comment. */
  bindMessageHandlers(): void {}

  /**
   * Shutdown: every client is told 1001 (reconnect elsewhere) with its own retry delay, drawn
   * uniformly in [0, SHUTDOWN_RECONNECT_WINDOW_MS] (PROTOCOL 7), then cut after the grace.
   */
  async close(server: WebSocketServer): Promise<void> {
    this.timers.forEach(clearInterval);
    for (const [path, s] of this.servers) if (s === server) this.servers.delete(path);
    const window = this.limits.shutdownReconnectWindowMs;
    // A window of 0 gives no hint at all (the reason Cells clients have always seen).
    const reason = () => (window > 0 ? shutdownReason(Math.floor(Math.random() * (window + 1))) : 'server shutting down');
    for (const socket of server.clients) socket.close(CloseCode.shuttingDown, reason());
    const end = Date.now() + this.limits.shutdownGraceMs;
    while (server.clients.size && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    for (const socket of server.clients) socket.terminate();
    await new Promise((resolve) => server.close(resolve));
  }

  private readonly releaseUnaddressed = (): void => this.admission.release('');

  async dispose(): Promise<void> {
    this.httpServer.off('upgrade', this.route);
  }

  /**
   * The 'upgrade' listener: nothing in here may throw (an exception would end the process),
   * and every refusal is an HTTP answer with a fixed reason counted in the metrics.
   */
  private route = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    // A reset during the handshake is the client's business; unhandled, it would be fatal.
    // A shared no-op, not a closure: one made here would keep this call's request alive as long as the socket.
    socket.on('error', ignore);
    try {
      const path = upgradePath(req.url);
      if (path === undefined) return this.refuse(socket, 400, 'bad_request', 'bad request target');
      const server = this.servers.get(path);
      if (!server) return this.refuse(socket, 404, 'not_found', 'no WebSocket endpoint here');
      const address = this.admission.addressOf(req);
      const refusal = this.admission.check(req, address);
      if (refusal) return this.refuse(socket, refusal.status, refusal.reason, refusal.message);
      server.handleUpgrade(req, socket, head, (ws) => {
        this.admission.admit(address);
        // ws emits 'close' once. Without a per-address limit every connection counts under '': one shared listener.
        ws.on('close', address ? () => this.admission.release(address) : this.releaseUnaddressed);
        server.emit('connection', ws, req);
      });
    } catch (err) {
      this.log.error({ msg: 'upgrade failed', err: (err as Error)?.stack });
      this.metrics.upgradesRefused.inc({ reason: 'error' });
      socket.destroy();
    }
  };

  /** Answers the upgrade request with a plain HTTP error and closes the connection. */
  private refuse(socket: Duplex, status: number, reason: string, message: string): void {
    this.metrics.upgradesRefused.inc({ reason });
    if (!this.logged.has(reason)) {
      this.logged.add(reason);
      this.log.warn({ msg: 'upgrade refused (logged once per reason; see switchboard_upgrades_refused_total)', status, reason });
    }
    const retry = status === 429 || status === 503 ? 'Retry-After: 10\r\n' : '';
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
        `Content-Length: ${Buffer.byteLength(message)}\r\n${retry}\r\n${message}`,
    );
  }

  /**
   * Pings every interval; a socket that has not answered `pongTimeoutMs` later is cut. A socket
   * that asked for a heartbeat (ext PROTOCOL 2.1) also gets a `ping` frame its page can see.
   */
  private watchLiveness(server: WebSocketServer): void {
    const ping = setInterval(() => {
      for (const socket of server.clients as Set<LiveSocket>) {
        socket.awaitingPong = true;
        try {
          socket.ping();
          if (heartbeatSockets.has(socket)) socket.send(PING_FRAME);
        } catch {
          socket.terminate(); // not open (yet): it would not answer anyway
        }
      }
      const check = setTimeout(() => {
        for (const socket of server.clients as Set<LiveSocket>) if (socket.awaitingPong) socket.terminate();
      }, this.limits.pongTimeoutMs);
      check.unref();
    }, this.limits.pingIntervalMs);
    ping.unref();
    this.timers.push(ping);
  }
}
