import { Inject, Logger } from '@nestjs/common';
import { WebSocketGateway, type OnGatewayConnection } from '@nestjs/websockets';
import type { WebSocket } from 'ws';
import { ChatRooms, clientId } from '../chat/chat-rooms.js';
import { heartbeatSockets } from '../common/heartbeat.js';
import { SchemaError, type Json } from '../common/schema.js';
import { CONFIG, type Config } from '../config/config.js';
import { ChatSessions } from '../sessions/endpoints.js';
import { errorFrame } from '../protocol/frames.js';
import type { Session } from '../sessions/session.js';
import { readSubscribe } from './subscribe-frame.js';

/**
 * `/chat` (and `/ws/chat`): subscribe and unsubscribe as on `/ws`, then the chat frames of
 * PROTOCOL 4, handed to ChatRooms. `@type` is case-insensitive here: Cells sends
 * `JOIN`, the React UI `join` / `msg` / `leave`.
 */
@WebSocketGateway({ path: '/chat' })
export class ChatGateway implements OnGatewayConnection {
  private readonly log = new Logger(ChatGateway.name);

  constructor(
    @Inject(CONFIG) config: Config,
    private readonly sessions: ChatSessions,
    private readonly rooms: ChatRooms,
  ) {
    if (!config.chat.nodeAuthUrl) {
      this.log.warn('CHAT_NODE_AUTH_URL is not set: every JOIN of a NODE chat room (comments on a file or folder) is refused');
    }
  }

  /** One frame handler for every socket: a closure per connection would live as long as its session. */
  private readonly onFrame = (session: Session, msg: Json) => this.frame(session, msg);

  handleConnection(socket: WebSocket): void {
    this.sessions.open(socket, this.onFrame);
  }

  /** The returned promise lets the SessionHost hold the session's next frames until this one is done. */
  private frame(session: Session, msg: Json): void | Promise<void> {
    const type = typeof msg['@type'] === 'string' ? msg['@type'].toLowerCase() : undefined;
    switch (type) {
      case 'subscribe': {
        const { jwt, heartbeat } = readSubscribe(msg);
        if (heartbeat) heartbeatSockets.add(session.socket);
        return this.sessions.subscribe(session, jwt);
      }
      case 'unsubscribe':
        return this.sessions.unsubscribe(session);
      case 'join':
        return this.run(session, this.rooms.join(session, msg));
      case 'leave':
        return this.run(session, this.rooms.leave(session, msg));
      case 'history':
        return this.run(session, this.rooms.history(session, msg));
      case 'post':
      case 'msg':
        return this.run(session, this.rooms.post(session, msg), msg);
      case 'delete_msg':
        return this.run(session, this.rooms.deleteMessage(session, msg), msg);
      case undefined:
        return session.reply(errorFrame('bad_frame', 'frame has no @type'));
      default:
        return; // unknown @type: ignored (PROTOCOL 2)
    }
  }

  /**
   * A bad frame gets its reason; anything else is logged (without the frame) and answered vaguely.
   * Either answer carries the frame's client `id` (ext) when it had a valid one.
   */
  private run(session: Session, work: Promise<void>, msg?: Json): Promise<void> {
    return work.catch((err: Error) => {
      const id = msg && idOf(msg);
      if (err instanceof SchemaError) return session.reply({ ...errorFrame('bad_frame', err.message), ...id });
      this.log.error({ msg: 'chat frame failed', sessionId: session.id, err: err.stack });
      session.reply({ ...errorFrame('internal'), ...id });
    });
  }
}

/** The valid client `id` of a frame, as fields to copy into its answer. */
function idOf(msg: Json): { id: string } | undefined {
  try {
    return clientId(msg);
  } catch {
    return undefined;
  }
}
