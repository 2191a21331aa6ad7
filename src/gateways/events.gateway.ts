import { WebSocketGateway, type OnGatewayConnection } from '@nestjs/websockets';
import type { WebSocket } from 'ws';
import { CallService } from '../calls/call.service.js';
import { heartbeatSockets } from '../common/heartbeat.js';
import type { Json } from '../common/schema.js';
import { ResumeService } from '../delivery/resume.service.js';
import { errorFrame, JoinRoomFrame, LeaveRoomFrame } from '../protocol/frames.js';
import { PushService } from '../push/push.service.js';
import { EventSessions } from '../sessions/endpoints.js';
import type { Session } from '../sessions/session.js';
import { readSubscribe } from './subscribe-frame.js';

/** `/ws` (and `/ws/event`): subscribe (with resume), unsubscribe, room commands, each read by its schema. Events flow out through the delivery service. */
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
        const { jwt, resumeFrom, heartbeat } = readSubscribe(msg);
        if (heartbeat) heartbeatSockets.add(session.socket);
        return this.sessions.subscribe(session, jwt, {
          position: () => this.resume.position(),
          resume: resumeFrom === undefined ? undefined : (s) => this.resume.resume(s, resumeFrom),
        });
      }
      case 'unsubscribe':
        return this.sessions.unsubscribe(session);
      case 'joinRoom': {
        // A room that does not fit the schema gets the push rules' refusal (`room must be a string`).
        const frame = JoinRoomFrame.safeParse({ ...msg, '@type': 'joinRoom' });
        return this.push.join(session, frame.success ? (frame.data.room ?? frame.data.joinRoom) : (msg.room ?? msg.joinRoom));
      }
      case 'leaveRoom': {
        const frame = LeaveRoomFrame.safeParse({ ...msg, '@type': 'leaveRoom' });
        return this.push.leave(session, frame.success ? (frame.data.room ?? frame.data.leaveRoom) : (msg.room ?? msg.leaveRoom));
      }
      case 'call':
        return this.calls.call(session, msg); // returns at once: the answer comes later (PROTOCOL 9)
      case undefined:
        return session.reply(errorFrame('bad_frame', 'frame has no @type'));
      default:
        return; // unknown @type: ignored (PROTOCOL 2)
    }
  }
}
