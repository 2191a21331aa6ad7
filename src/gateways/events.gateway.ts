import { WebSocketGateway, type OnGatewayConnection } from '@nestjs/websockets';
import type { WebSocket } from 'ws';
import { CallService } from '../calls/call.service.js';
import type { Json } from '../common/schema.js';
import { ResumeService } from '../history/resume.service.js';
import { PushService } from '../push/push.service.js';
import { EventSessions } from '../sessions/endpoints.js';
import { errorFrame } from '../protocol/frames.js';
import type { Session } from '../sessions/session.js';

/** `/ws` (and `/ws/event`): subscribe (with resume), unsubscribe, room commands. Events flow out through the topics. */
@WebSocketGateway({ path: '/ws' })
export class EventsGateway implements OnGatewayConnection {
  constructor(
    private readonly sessions: EventSessions,
    private readonly push: PushService,
    private readonly resume: ResumeService,
    private readonly calls: CallService,
  ) {}

  /** One frame handler for every socket: a closure per connection would live as long as its session. */
  private readonly onFrame = (session: Session, msg: Json) => this.frame(session, msg);

  handleConnection(socket: WebSocket): void {
    this.sessions.open(socket, this.onFrame);
  }

  private frame(session: Session, msg: Json): void | Promise<void> {
    // websocket-push sends `{"joinRoom":"name"}` with no @type.
    const type = msg['@type'] ?? (msg.joinRoom !== undefined ? 'joinRoom' : msg.leaveRoom !== undefined ? 'leaveRoom' : undefined);
    switch (type) {
      case 'subscribe': {
        const { resumeFrom } = msg;
        return this.sessions.subscribe(session, msg.jwt, resumeFrom === undefined ? undefined : (s) => this.resume.resume(s, resumeFrom));
      }
      case 'unsubscribe':
        return this.sessions.unsubscribe(session);
      case 'joinRoom':
        return this.push.join(session, msg.room ?? msg.joinRoom);
      case 'leaveRoom':
        return this.push.leave(session, msg.room ?? msg.leaveRoom);
      case 'call':
        return this.calls.call(session, msg); // returns at once: the answer comes later (PROTOCOL 9)
      case undefined:
        return session.reply(errorFrame('bad_frame', 'frame has no @type'));
      default:
        return; // unknown @type: ignored (PROTOCOL 2)
    }
  }
}
