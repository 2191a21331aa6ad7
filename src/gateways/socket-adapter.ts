import type { INestApplicationContext } from '@nestjs/common';
import { AbstractWsAdapter } from '@nestjs/websockets';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';

export interface SocketLimits {
  maxFrameBytes: number;
  pingIntervalMs: number;
  pongTimeoutMs: number;
  /** On shutdown, how long sockets get to finish their close handshake before being cut. */
  shutdownGraceMs: number;
}

/** Extra paths a gateway is also served at (PROTOCOL 1). */
const ALIASES: Record<string, string[]> = { '/ws': ['/ws/event'], '/chat': ['/ws/chat'] };

type LiveSocket = WebSocket & { awaitingPong?: boolean };

/**
 * Serves the gateways on the HTTP server's port, one `ws` server per path, with the
 * frame-size limit (ws closes 1009 past it) and the ping/pong liveness check.
 *
 * Unlike `WsAdapter` it builds no RxJS pipeline per connection: the gateways read their
 * own frames (see `FrameReader`), which keeps an idle socket near the cost of bare `ws`
 * (bench/idle-sockets.mjs measures both).
 */
export class SocketAdapter extends AbstractWsAdapter {
  private readonly servers = new Map<string, WebSocketServer>();
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    app: INestApplicationContext,
    private readonly limits: SocketLimits,
  ) {
    super(app);
    this.httpServer.on('upgrade', this.route);
  }

  create(_port: number, options: { path: string }): WebSocketServer {
    const server = new WebSocketServer({ noServer: true, maxPayload: this.limits.maxFrameBytes });
    for (const path of [options.path, ...(ALIASES[options.path] ?? [])]) this.servers.set(path, server);
    server.on('connection', (socket: LiveSocket) => {
      socket.on('pong', () => (socket.awaitingPong = false));
      // A socket error (bad frame, reset) is the client's: ws closes the socket itself.
      socket.on('error', () => undefined);
    });
    this.watchLiveness(server);
    return server;
  }

  bindClientDisconnect(client: WebSocket, callback: () => void): void {
    client.once('close', callback);
  }

  /** Frames are read by the gateways themselves; see the class comment. */
  bindMessageHandlers(): void {}

  /** Shutdown: every client is told 1001 (reconnect elsewhere), then cut after the grace. */
  async close(server: WebSocketServer): Promise<void> {
    this.timers.forEach(clearInterval);
    for (const [path, s] of this.servers) if (s === server) this.servers.delete(path);
    for (const socket of server.clients) socket.close(1001, 'server shutting down');
    const end = Date.now() + this.limits.shutdownGraceMs;
    while (server.clients.size && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    for (const socket of server.clients) socket.terminate();
    await new Promise((resolve) => server.close(resolve));
  }

  async dispose(): Promise<void> {
    this.httpServer.off('upgrade', this.route);
  }

  private route = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const path = new URL(req.url ?? '/', 'ws://localhost').pathname.replace(/\/+$/, '') || '/';
    const server = this.servers.get(path);
    if (!server) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    server.handleUpgrade(req, socket, head, (ws) => server.emit('connection', ws, req));
  };

  /** Pings every interval; a socket that has not answered `pongTimeoutMs` later is cut. */
  private watchLiveness(server: WebSocketServer): void {
    const ping = setInterval(() => {
      for (const socket of server.clients as Set<LiveSocket>) {
        socket.awaitingPong = true;
        socket.ping();
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
