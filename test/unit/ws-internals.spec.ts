/**
 * The Outbox writes frames it framed itself through two members of ws that are not its public
 * API (`_sender.sendFrame`, `_socket`), as Socket.IO does, to frame an event once for all its
 * sessions. ws is pinned to an exact version in package.json; this test fails when an upgrade
 * moves either member, or changes what the Outbox's frames look like on the wire.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { Outbox } from '../../src/sessions/outbox.js';
import { frame } from '../support/ws-frame.js';

describe('the ws internals the Outbox writes through', () => {
  let server: WebSocketServer;
  let serverSide: WebSocket;
  let client: WebSocket;

  beforeAll(async () => {
    server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => server.once('listening', r));
    const connected = new Promise<WebSocket>((r) => server.once('connection', r));
    client = new WebSocket(`ws://127.0.0.1:${(server.address() as { port: number }).port}`);
    await new Promise((r) => client.once('open', r));
    serverSide = await connected;
  });
  afterAll(async () => {
    client.close();
    await new Promise((r) => server.close(r));
  });

  it('is the exact version package.json pins', () => {
    const pinned = JSON.parse(readFileSync('package.json', 'utf8')).dependencies.ws;
    const installed = JSON.parse(readFileSync('node_modules/ws/package.json', 'utf8')).version;
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/);
    expect(installed).toBe(pinned);
  });

  it('has `_sender.sendFrame` and the TCP socket as `_socket`', () => {
    const internals = serverSide as unknown as { _sender: { sendFrame: unknown }; _socket: unknown };
    expect(typeof internals._sender.sendFrame).toBe('function');
    expect(internals._socket).toBeInstanceOf(Socket);
  });

  it('delivers frames written by an Outbox, in order, as the text frames they are', async () => {
    const got: string[] = [];
    const three = new Promise<void>((resolve) => client.on('message', (data) => got.push(data.toString()) === 3 && resolve()));
    const outbox = new Outbox(serverSide, { rate: 1000, burst: 1000, queueMax: 10, maxBufferedBytes: 1 << 20 }, { sent: () => undefined, queued: () => undefined, overflow: () => undefined });
    const big = 'x'.repeat(70_000); // a 64-bit length header
    for (const text of ['{"a":1}', 'é'.repeat(200), big]) outbox.push(frame(text), 'test', Date.now());
    await three;
    expect(got).toEqual(['{"a":1}', 'é'.repeat(200), big]);
  });
});
