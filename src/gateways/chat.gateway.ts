import { Inject, Logger } from '@nestjs/common';
import { WebSocketGateway, type OnGatewayConnection } from '@nestjs/websockets';
import type { WebSocket } from 'ws';
import { Revocations } from '../auth/revocations.js';
import { TokenVerifier } from '../auth/token-verifier.js';
import { ChatService } from '../chat/chat.service.js';
import { SchemaError, type Json } from '../common/schema.js';
import { CONFIG, type Config } from '../config/config.js';
import { Metrics } from '../ops/metrics.js';
import type { Session } from '../sessions/session.js';
import { SessionHost } from '../sessions/session-host.js';

/**
 * `/chat` (and `/ws/chat`): subscribe and unsubscribe as on `/ws`, then the chat frames of
 * PROTOCOL 4, handed to the ChatService. `@type` is case-insensitive here: Cells sends
 * `JOIN`, the React UI `join` / `msg` / `leave`.
 */
@WebSocketGateway({ path: '/chat' })
export class ChatGateway implements OnGatewayConnection {
  readonly host: SessionHost;
  private readonly log = new Logger(ChatGateway.name);

  constructor(
    verifier: TokenVerifier,
    @Inject(CONFIG) config: Config,
    metrics: Metrics,
    private readonly chat: ChatService,
    revocations: Revocations,
  ) {
    this.host = new SessionHost(
      'chat',
      chat.registry,
      verifier,
      config,
      metrics,
      {
        frame: (session, msg) => this.frame(session, msg),
        closed: (session) => this.chat.closed(session),
      },
      revocations,
    );
    if (!config.chat.nodeAuthUrl) {
      this.log.warn('CHAT_NODE_AUTH_URL is not set: every JOIN of a NODE chat room (comments on a file or folder) is refused');
    }
  }

  handleConnection(socket: WebSocket): void {
    this.host.open(socket);
  }

  /** The returned promise lets the SessionHost hold the session's next frames until this one is done. */
  private frame(session: Session, msg: Json): void | Promise<void> {
    const type = typeof msg['@type'] === 'string' ? msg['@type'].toLowerCase() : undefined;
    switch (type) {
      case 'subscribe':
        return this.host.subscribe(session, msg.jwt);
      case 'unsubscribe':
        return this.host.unsubscribe(session);
      case 'join':
        return this.run(session, this.chat.join(session, msg));
      case 'leave':
        return this.run(session, this.chat.leave(session, msg));
      case 'history':
        return this.run(session, this.chat.history(session, msg));
      case 'post':
      case 'msg':
        return this.run(session, this.chat.post(session, msg));
      case 'delete_msg':
        return this.run(session, this.chat.deleteMessage(session, msg));
      case undefined:
        return session.reply({ '@type': 'error', error: 'frame has no @type' });
      default:
        return; // unknown @type: ignored (PROTOCOL 2)
    }
  }

  /** A bad frame gets its reason; anything else is logged (without the frame) and answered vaguely. */
  private run(session: Session, work: Promise<void>): Promise<void> {
    return work.catch((err: Error) => {
      if (err instanceof SchemaError) return session.reply({ '@type': 'error', error: err.message });
      this.log.error({ msg: 'chat frame failed', sessionId: session.id, err: err.stack });
      session.reply({ '@type': 'error', error: 'internal error' });
    });
  }
}
