import { Inject } from '@nestjs/common';
import { WebSocketGateway, type OnGatewayConnection } from '@nestjs/websockets';
import type { WebSocket } from 'ws';
import { Revocations } from '../auth/revocations.js';
import { TokenVerifier } from '../auth/token-verifier.js';
import type { Json } from '../common/schema.js';
import { CONFIG, type Config } from '../config/config.js';
import { Metrics } from '../ops/metrics.js';
import type { Session } from '../sessions/session.js';
import { SessionHost } from '../sessions/session-host.js';
import { SessionRegistry } from '../sessions/session-registry.js';

/** Room commands from clients; implemented by the push module (PROTOCOL 5). */
export interface RoomCommands {
  join(session: Session, room: unknown): void;
  leave(session: Session, room: unknown): void;
}

/** `/ws` (and `/ws/event`): subscribe, unsubscribe, room commands. Events flow out through EventTopics. */
@WebSocketGateway({ path: '/ws' })
export class EventsGateway implements OnGatewayConnection {
  readonly host: SessionHost;
  rooms?: RoomCommands;

  constructor(verifier: TokenVerifier, @Inject(CONFIG) config: Config, metrics: Metrics, revocations: Revocations) {
    this.host = new SessionHost('events', new SessionRegistry(), verifier, config, metrics, { frame: (session, msg) => this.frame(session, msg) }, revocations);
  }

  handleConnection(socket: WebSocket): void {
    this.host.open(socket);
  }

  private frame(session: Session, msg: Json): void | Promise<void> {
    // websocket-push sends `{"joinRoom":"name"}` with no @type.
    const type = msg['@type'] ?? (msg.joinRoom !== undefined ? 'joinRoom' : msg.leaveRoom !== undefined ? 'leaveRoom' : undefined);
    switch (type) {
      case 'subscribe':
        return this.host.subscribe(session, msg.jwt, msg.resumeFrom);
      case 'unsubscribe':
        return this.host.unsubscribe(session);
      case 'joinRoom':
        return this.rooms?.join(session, msg.room ?? msg.joinRoom);
      case 'leaveRoom':
        return this.rooms?.leave(session, msg.room ?? msg.leaveRoom);
      case undefined:
        return session.reply({ '@type': 'error', error: 'frame has no @type' });
      default:
        return; // unknown @type: ignored (PROTOCOL 2)
    }
  }
}
