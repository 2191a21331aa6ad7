/** The chat topic (PROTOCOL.md 4): every chat change, from this service or a backend, reaches the room here. */
import { Injectable } from '@nestjs/common';
import { Topic, type TopicHandler } from '../bus/topic.js';
import { ChatSessions } from '../sessions/endpoints.js';
import { Fanout } from '../sessions/fanout.js';
import { chatFrame, parseChatEvent, type ChatEvent } from './chat-event.js';
import { ChatPresence, roomKey } from './chat-presence.js';

/** One frame, serialized once, to this instance's sessions in the room. */
@Topic({ channel: 'chat' })
@Injectable()
export class ChatTopic implements TopicHandler<ChatEvent> {
  readonly topic = 'chat';

  constructor(
    private readonly sessions: ChatSessions,
    private readonly fanout: Fanout,
    private readonly presence: ChatPresence,
  ) {}

  parse(raw: unknown): ChatEvent {
    return parseChatEvent(raw);
  }

  handle(e: ChatEvent): void {
    const { roomUuid, frame } = chatFrame(e);
    const sessions = this.sessions.registry.withKeys([roomKey(roomUuid)]);
    if (e.Room && !e.Message && sessions.size) this.presence.shownHere(roomUuid, e.Room.Users);
    this.fanout.send(sessions, JSON.stringify(frame), this.topic);
  }
}
