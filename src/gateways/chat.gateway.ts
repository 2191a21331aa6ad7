import { Inject, Logger } from '@nestjs/common';
import { WebSocketGateway, type OnGatewayConnection } from '@nestjs/websockets';
import type { WebSocket } from 'ws';
import { ChatRooms } from '../chat/chat-rooms.js';
import { heartbeatSockets } from '../common/heartbeat.js';
import { SchemaError, parseWith, type FieldLabel, type Json } from '../common/schema.js';
import { CONFIG, type Config } from '../config/config.js';
import { ChatSessions } from '../sessions/endpoints.js';
import { ChatDeleteMsgFrame, ChatHistoryFrame, ChatJoinFrame, ChatLeaveFrame, ChatPostFrame, ClientId, errorFrame } from '../protocol/frames.js';
import { redisUnreachable } from '../redis/redis-connections.js';
import type { Session } from '../sessions/session.js';
import { readSubscribe } from './subscribe-frame.js';

/**
 * `/chat` (and `/ws/chat`): subscribe and unsubscribe as on `/ws`, then the chat frames of
 * PROTOCOL 4, each read by its schema and handed to ChatRooms (a frame that does not fit gets
 * `bad_frame` naming the field: `Room.Type must be ...`). `@type` is case-insensitive here:
 * Cells sends `JOIN`, the React UI `join` / `msg` / `leave`.
 */
@WebSocketGateway({ path: '/chat' })
export class ChatGateway implements OnGatewayConnection {
  private readonly log = new Logger(ChatGateway.name);
  /** When an unreachable Redis was last logged: once per outage, not once per frame. */
  private unreachableLoggedAt = 0;

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
        return this.run(session, msg, () => this.rooms.join(session, parseWith(ChatJoinFrame, msg, field)));
      case 'leave':
        return this.run(session, msg, () => this.rooms.leave(session, parseWith(ChatLeaveFrame, msg, field)));
      case 'history':
        return this.run(session, msg, () => this.rooms.history(session, parseWith(ChatHistoryFrame, msg, field)));
      case 'post':
      case 'msg':
        return this.run(session, msg, () => this.rooms.post(session, parseWith(ChatPostFrame, msg, field)));
      case 'delete_msg':
        return this.run(session, msg, () => this.rooms.deleteMessage(session, parseWith(ChatDeleteMsgFrame, msg, field)));
      case undefined:
        return session.reply(errorFrame('bad_frame', 'frame has no @type'));
      default:
        return; // unknown @type: ignored (PROTOCOL 2)
    }
  }

  /**
   * A bad frame gets its reason; one that needed an unreachable Redis `unavailable` (the client
   * sends it again); anything else is logged (without the frame) and answered vaguely.
   * Either answer carries the frame's client `id` (ext, POST and DELETE_MSG) when it had a valid one.
   */
  private async run(session: Session, msg: Json, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (err) {
      const id = ClientId.safeParse(msg.id);
      const about = id.success ? { id: id.data } : {};
      if (err instanceof SchemaError) return session.reply({ ...errorFrame('bad_frame', err.message), ...about });
      if (redisUnreachable(err)) {
        if (Date.now() - this.unreachableLoggedAt > 60_000) this.log.warn({ msg: 'chat frames refused: Redis unreachable', err: (err as Error).message });
        this.unreachableLoggedAt = Date.now();
        return session.reply({ ...errorFrame('unavailable'), ...about });
      }
      this.log.error({ msg: 'chat frame failed', sessionId: session.id, err: (err as Error)?.stack });
      session.reply({ ...errorFrame('internal'), ...about });
    }
  }
}

/** A field of a chat frame, named from the frame: `Room.Type`, `Message.RoomUuid`, `id`. */
const field: FieldLabel = (path) => path.map(String).join('.');
