/** `/chat` helpers shared by the e2e files: frame matchers and the JOIN round trip. */
import { ask, nextSince, type Client, type Frame } from './harness.js';

export type Room = { Uuid?: string; Type?: string; RoomTypeObject?: string; RoomLabel?: string; Users?: string[] };
export type RoomRef = { Type: string; RoomTypeObject?: string; RoomLabel?: string };

export const roomOf = (f: Frame): Room => (f.Room ?? {}) as Room;

/** A ROOM_UPDATE of the room, with exactly these users (in this order) when given. */
export const isUpdate = (uuid: string, users?: string[]) => (f: Frame) =>
  f['@type'] === 'ROOM_UPDATE' && roomOf(f).Uuid === uuid && (!users || JSON.stringify(roomOf(f).Users) === JSON.stringify(users));

/** A chat message with this text (messages carry no @type). */
export const isMessage = (text: string) => (f: Frame) => f.Message === text && f['@type'] === undefined;

export const isError = (error: string | RegExp) => (f: Frame) =>
  f['@type'] === 'error' && (typeof error === 'string' ? f.error === error : error.test(String(f.error)));

/** JOIN (or `type`): resolves with the answer about that room, a ROOM_UPDATE or an error. */
export function joinAnswer(c: Client, room: RoomRef, type = 'JOIN'): Promise<Frame> {
  const about = (f: Frame) => room.RoomTypeObject === undefined || roomOf(f).RoomTypeObject === room.RoomTypeObject;
  return ask(c, { '@type': type, Room: room }, (f) => (f['@type'] === 'ROOM_UPDATE' || f['@type'] === 'error') && about(f));
}

/** JOIN; resolves with the room of the ROOM_UPDATE, fails on a refusal. */
export async function joinRoom(c: Client, room: RoomRef, type = 'JOIN'): Promise<Room & { Uuid: string }> {
  const f = await joinAnswer(c, room, type);
  if (f['@type'] === 'error') throw new Error(`join refused: ${JSON.stringify(f)}`);
  return roomOf(f) as Room & { Uuid: string };
}

/** A chat message as a backend publishes it on the chat channel. */
export const chatMessage = (RoomUuid: string, Message: string, Uuid = `m-${Math.random().toString(36).slice(2)}`) => ({
  Message: { Uuid, RoomUuid, Message, Author: 'backend', Timestamp: '1' },
});

export { nextSince };
