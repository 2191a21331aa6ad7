import type { IncomingMessage } from 'node:http';
import { normalizeOrigin } from '../common/origin.js';

export interface AdmissionLimits {
  /** 0 = no limit. */
  maxConnections: number;
  /** 0 = no limit. */
  maxConnectionsPerAddress: number;
  /** Empty: any origin. Normalised (normalizeOrigin), as config gives them. */
  allowedOrigins: string[];
}

/** Why an upgrade is refused: the HTTP answer, and a fixed label for the metric. */
export interface Refusal {
  status: 403 | 429 | 503;
  reason: 'origin' | 'per_address' | 'total';
  message: string;
}

/**
 * Admission control at the WebSocket upgrade (PROTOCOL 2, admission): an Origin allow-list,
 * and the open connections counted per instance and per client address. The address is the
 * TCP peer's: behind an ingress every client has the ingress's address (see config).
 */
export class Admission {
  private total = 0;
  /** Open connections per address; an address leaves the map with its last connection. */
  private readonly byAddress = new Map<string, number>();

  constructor(private readonly limits: AdmissionLimits) {}

  get open(): number {
    return this.total;
  }

  /**
   * What this request's connection is counted under: its peer address, read only when a
   * per-address limit needs it (reading it is a getpeername syscall per connection).
   */
  addressOf(req: Pick<IncomingMessage, 'socket'>): string {
    return this.limits.maxConnectionsPerAddress ? (req.socket.remoteAddress ?? '') : '';
  }

  /** The refusal for this request, or undefined when it may connect. */
  check(req: Pick<IncomingMessage, 'headers'>, address: string): Refusal | undefined {
    const { maxConnections, maxConnectionsPerAddress, allowedOrigins } = this.limits;
    // Browsers always send Origin; a client without one is not a browser and could send any.
    // Compared normalised: `https://ok.example:443` is `https://ok.example`.
    const origin = req.headers.origin;
    if (allowedOrigins.length && origin !== undefined && !allowedOrigins.includes(normalizeOrigin(origin) ?? '')) {
      return { status: 403, reason: 'origin', message: 'origin not allowed' };
    }
    if (maxConnections && this.total >= maxConnections) {
      return { status: 503, reason: 'total', message: 'too many connections on this instance' };
    }
    if (maxConnectionsPerAddress && (this.byAddress.get(address) ?? 0) >= maxConnectionsPerAddress) {
      return { status: 429, reason: 'per_address', message: 'too many connections from this address' };
    }
    return undefined;
  }

  /** A connection from `address` was opened. */
  admit(address: string): void {
    this.total++;
    this.byAddress.set(address, (this.byAddress.get(address) ?? 0) + 1);
  }

  /** A connection admitted from `address` closed (a release with none left open changes nothing). */
  release(address: string): void {
    const open = this.byAddress.get(address);
    if (!open) return;
    this.total--;
    if (open > 1) this.byAddress.set(address, open - 1);
    else this.byAddress.delete(address);
  }
}
