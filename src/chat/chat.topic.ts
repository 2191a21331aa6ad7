/** The chat topic (PROTOCOL.md 4): every chat change, from this service or a backend, reaches the room here. */
import { Injectable } from '@nestjs/common';
import { Topic, type Routing, type TopicHandler } from '../delivery/topic.js';
import { chatFrame, parseChatEvent, type ChatEvent } from './chat-event.js';
import { ChatPresence, roomKey } from './chat-presence.js';

/** The members of a room here were shown these users (a ROOM_UPDATE went out). */
interface Shown {
  roomUuid: string;
  users: string[];
}

/** One frame, serialized once, to this instance's `/chat` sessions in the room; not in the history. */
@Topic({ channel: 'chat' })
@Injectable()
export class ChatTopic implements TopicHandler<ChatEvent, Shown> {
  readonly topic = 'chat';
  readonly endpoint = 'chat';

  constructor(private readonly presence: ChatPresence) {}

  parse(raw: unknown): ChatEvent {
    return parseChatEvent(raw);
  }

  route(e: ChatEvent): Routing {
    const { roomUuid, frame } = chatFrame(e);
    const shown = e.Room && !e.Message ? [{ roomUuid, users: e.Room.Users }] : undefined;
    return { keys: [roomKey(roomUuid)], frame, offset: false, effects: shown };
  }

  apply({ roomUuid, users }: Shown): void {
    this.presence.shownHere(roomUuid, users);
  }
}
