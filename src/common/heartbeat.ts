/**
 * Sockets whose client asked for visible liveness (a `subscribe` with `"heartbeat": true`, ext
 * PROTOCOL 2.1): their `subscribed` ack states `pingIntervalMs` and the socket adapter sends them
 * `{"@type":"ping"}` every PING_INTERVAL_MS. Kept beside the Session, not in it: a WeakSet costs
 * nothing for the sockets that never ask (unmodified Cells clients).
 */
export const heartbeatSockets = new WeakSet<object>();

/** The frame the adapter sends, serialized once. */
export const PING_FRAME = '{"@type":"ping"}';

/** The `pingIntervalMs` field of the ack of a socket that asked for it; nothing otherwise. */
export function heartbeatAck(socket: object, pingIntervalMs: number): { pingIntervalMs?: number } {
  return heartbeatSockets.has(socket) ? { pingIntervalMs } : {};
}

/** The close reason of a shutdown, with the reconnect hint the client honours (PROTOCOL 7). */
export function shutdownReason(retryInMs: number): string {
  return `server shutting down; retry in ${retryInMs} ms`;
}
