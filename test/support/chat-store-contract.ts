/**
 * What every ChatStore must do, run against MemoryChatStore (unit) and RedisChatStore
 * (integration). Not a spec file itself: the two specs call chatStoreContract().
 */
import { describe, it, expect } from '@jest/globals';
import type { ChatStore } from '../../src/chat/chat-store.js';
import type { ChatMessage, ChatRoom } from '../../src/chat/chat-types.js';

/** Builds a store keeping `historyLimit` messages per room (all stores of one run may share data). */
export type StoreFactory = (historyLimit: number) => ChatStore;

let seq = 0;
/** Room uuids unique per run, so rows sharing one Redis prefix never see each other's data. */
export const freshUuid = (what: string): string => `${what}-${process.pid}-${Date.now()}-${++seq}`;

export function message(roomUuid: string, i: number): ChatMessage {
  return { Uuid: `m${i}-${roomUuid}`, RoomUuid: roomUuid, Message: `text ${i}`, Author: 'alice', Timestamp: String(1_700_000_000 + i) };
}

/** A stored message without the Seq the store gave it (compared on its own in 'sequence'). */
export function bare<T extends ChatMessage | undefined>(m: T): T {
  if (!m) return m;
  const { Seq: _seq, ...rest } = m;
  return rest as T;
}

export async function fill(store: ChatStore, roomUuid: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await store.addMessage(message(roomUuid, i));
}

/**
 * History paging (PROTOCOL 4): offset counts back from the newest, results oldest first.
 * Row: name, messages added (numbered 0..), historyLimit, offset, limit, numbers expected.
 */
export const PAGING_TABLE: Array<[string, number, number, number, number, number[]]> = [
  ['empty room', 0, 10, 0, 40, []],
  ['fewer than limit', 3, 10, 0, 40, [0, 1, 2]],
  ['exactly limit', 5, 10, 0, 5, [0, 1, 2, 3, 4]],
  ['two newest, oldest first', 5, 10, 0, 2, [3, 4]],
  ['second page', 5, 10, 2, 2, [1, 2]],
  ['last page shorter than limit', 5, 10, 4, 2, [0]],
  ['limit larger than what is left', 5, 10, 3, 40, [0, 1]],
  ['offset at the oldest', 5, 10, 5, 2, []],
  ['offset past the oldest', 5, 10, 9, 2, []],
  ['limit 0', 5, 10, 0, 0, []],
  ['over the cap: only the newest kept', 8, 5, 0, 40, [3, 4, 5, 6, 7]],
  ['over the cap: newest page', 8, 5, 0, 2, [6, 7]],
  ['over the cap: page reaching the oldest kept', 8, 5, 3, 3, [3, 4]],
  ['over the cap: offset at the cap', 8, 5, 5, 2, []],
  ['cap of 1', 4, 1, 0, 10, [3]],
];

export function chatStoreContract(name: string, makeStore: StoreFactory): void {
  describe(`${name}: history paging`, () => {
    it.each(PAGING_TABLE)('%s (added %i, cap %i, offset %i, limit %i)', async (_row, added, cap, offset, limit, expected) => {
      const store = makeStore(cap);
      const roomUuid = freshUuid('room');
      await fill(store, roomUuid, added);
      const page = await store.listMessages(roomUuid, offset, limit);
      expect(page.map(bare)).toEqual(expected.map((i) => message(roomUuid, i)));
    });

    /** Row: name, messages added (all of one size s), offset, limit, maxBytes in units of s, numbers expected, cut. */
    it.each<[string, number, number, number, number, number[], boolean]>([
      ['the whole window fits', 5, 0, 5, 5, [0, 1, 2, 3, 4], false],
      ['the newest that fit, oldest first', 5, 0, 5, 3, [2, 3, 4], true],
      ['a partial message does not fit', 5, 0, 5, 3.9, [2, 3, 4], true],
      ['the newest always, whatever its size', 5, 0, 5, 0, [4], true],
      ['a window further back', 5, 1, 3, 2, [2, 3], true],
      ['no bound', 5, 0, 40, Infinity, [0, 1, 2, 3, 4], false],
      ['a short last window that fits', 5, 4, 2, 1, [0], false],
      ['an empty room', 0, 0, 40, 1, [], false],
    ])('listPage: %s (added %i, offset %i, limit %i, %d x size)', async (_row, added, offset, limit, units, expected, cut) => {
      const store = makeStore(10);
      const roomUuid = freshUuid('room');
      await fill(store, roomUuid, added);
      // As stored: with its Seq (one digit here, so every message has the same size).
      const stored = (i: number) => ({ ...message(roomUuid, i), Seq: i + 1 });
      const size = Buffer.byteLength(JSON.stringify(stored(0)));
      const page = await store.listPage(roomUuid, offset, limit, Math.floor(units * size));
      expect(page).toEqual({ messages: expected.map(stored), bytes: expected.length * size, cut });
    });

    it('keeps rooms apart', async () => {
      const store = makeStore(10);
      const [a, b] = [freshUuid('room'), freshUuid('room')];
      await fill(store, a, 3);
      await store.addMessage(message(b, 9));
      expect((await store.listMessages(a, 0, 40)).map((m) => m.Message)).toEqual(['text 0', 'text 1', 'text 2']);
      expect((await store.listMessages(b, 0, 40)).map(bare)).toEqual([message(b, 9)]);
    });

    it('drops the messages over the cap from lookup by uuid too', async () => {
      const store = makeStore(2);
      const roomUuid = freshUuid('room');
      await fill(store, roomUuid, 3);
      expect(await store.getMessage(roomUuid, message(roomUuid, 0).Uuid)).toBeUndefined();
      expect(bare(await store.getMessage(roomUuid, message(roomUuid, 2).Uuid))).toEqual(message(roomUuid, 2));
    });
  });

  describe(`${name}: room expiry`, () => {
    it('touchRoom keeps a room and its history; on a room that does not exist it creates nothing', async () => {
      const store = makeStore(10);
      const uuid = freshUuid('room');
      const room: ChatRoom = { Uuid: uuid, Type: 'USER', RoomTypeObject: `${uuid}-x`, Users: [], LastUpdated: '1' };
      await store.createRoom(room);
      await fill(store, uuid, 2);
      await store.touchRoom(uuid);
      expect((await store.findRoom('USER', `${uuid}-x`))?.Uuid).toBe(uuid);
      expect(await store.listMessages(uuid, 0, 10)).toHaveLength(2);
      const ghost = freshUuid('room');
      await store.touchRoom(ghost);
      expect(await store.getRoom(ghost)).toBeUndefined();
    });
  });

  describe(`${name}: messages`, () => {
    it('finds a message by room and uuid', async () => {
      const store = makeStore(10);
      const roomUuid = freshUuid('room');
      await fill(store, roomUuid, 2);
      expect(bare(await store.getMessage(roomUuid, message(roomUuid, 1).Uuid))).toEqual(message(roomUuid, 1));
      expect(await store.getMessage(roomUuid, 'nope')).toBeUndefined();
      expect(await store.getMessage(freshUuid('room'), message(roomUuid, 1).Uuid)).toBeUndefined();
    });

    it('deletes a message: true once, then false; history closes the gap', async () => {
      const store = makeStore(10);
      const roomUuid = freshUuid('room');
      await fill(store, roomUuid, 3);
      const middle = message(roomUuid, 1).Uuid;
      await expect(store.deleteMessage(roomUuid, middle)).resolves.toBe(true);
      await expect(store.deleteMessage(roomUuid, middle)).resolves.toBe(false);
      await expect(store.deleteMessage(freshUuid('room'), message(roomUuid, 0).Uuid)).resolves.toBe(false);
      expect(await store.getMessage(roomUuid, middle)).toBeUndefined();
      expect((await store.listMessages(roomUuid, 0, 40)).map(bare)).toEqual([message(roomUuid, 0), message(roomUuid, 2)]);
    });

    it('adding a message with a known uuid replaces it in place', async () => {
      const store = makeStore(10);
      const roomUuid = freshUuid('room');
      await fill(store, roomUuid, 3);
      const edited = { ...message(roomUuid, 0), Message: 'edited' };
      expect(await store.addMessage(edited)).toEqual({ ...edited, Seq: 1 });
      expect((await store.listMessages(roomUuid, 0, 40)).map(bare)).toEqual([edited, message(roomUuid, 1), message(roomUuid, 2)]);
      expect((await store.listMessages(roomUuid, 0, 40)).map((m) => m.Seq)).toEqual([1, 2, 3]); // the edit kept its place
    });
  });

  describe(`${name}: sequence (Seq, ext PROTOCOL 4.3)`, () => {
    it("numbers each room's messages 1, 2, 3... in the order stored, returned by addMessage and kept in history", async () => {
      const store = makeStore(10);
      const [a, b] = [freshUuid('room'), freshUuid('room')];
      const seqs: number[] = [];
      for (let i = 0; i < 3; i++) seqs.push((await store.addMessage(message(a, i))).Seq!);
      expect(seqs).toEqual([1, 2, 3]);
      expect((await store.addMessage(message(b, 0))).Seq).toBe(1); // per room
      expect((await store.listMessages(a, 0, 40)).map((m) => m.Seq)).toEqual([1, 2, 3]);
      expect((await store.getMessage(a, message(a, 1).Uuid))?.Seq).toBe(2);
    });

    it('never gives a Seq twice: not after a deletion, not past the cap, not to messages stored at once', async () => {
      const store = makeStore(2);
      const roomUuid = freshUuid('room');
      await fill(store, roomUuid, 3); // the first is dropped by the cap
      await store.deleteMessage(roomUuid, message(roomUuid, 2).Uuid);
      expect((await store.addMessage(message(roomUuid, 3))).Seq).toBe(4);
      const together = await Promise.all([4, 5, 6].map((i) => store.addMessage(message(roomUuid, i))));
      expect(together.map((m) => m.Seq).sort()).toEqual([5, 6, 7]);
      const page = await store.listMessages(roomUuid, 0, 10);
      expect(page.map((m) => m.Seq)).toEqual([...page.map((m) => m.Seq!)].sort((x, y) => x - y)); // history order is Seq order
    });
  });

  describe(`${name}: rooms`, () => {
    const room = (over: Partial<ChatRoom> = {}): ChatRoom => ({
      Uuid: freshUuid('uuid'),
      Type: 'NODE',
      RoomTypeObject: freshUuid('node'),
      RoomLabel: 'report.pdf',
      Users: ['alice'],
      LastUpdated: '1700000000',
      ...over,
    });

    it('saves, gets by uuid and finds by (Type, RoomTypeObject)', async () => {
      const store = makeStore(10);
      const r = room();
      await store.saveRoom(r);
      expect(await store.getRoom(r.Uuid)).toEqual(r);
      expect(await store.findRoom('NODE', r.RoomTypeObject)).toEqual(r);
      expect(await store.findRoom('WORKSPACE', r.RoomTypeObject)).toBeUndefined();
      expect(await store.findRoom('NODE', `${r.RoomTypeObject}x`)).toBeUndefined();
      expect(await store.getRoom(freshUuid('uuid'))).toBeUndefined();
    });

    it('keeps a GLOBAL room with an empty RoomTypeObject and no label', async () => {
      const store = makeStore(10);
      const r = room({ Type: 'GLOBAL', RoomTypeObject: '', RoomLabel: undefined, Users: [] });
      delete r.RoomLabel;
      await store.saveRoom(r);
      const found = await store.findRoom('GLOBAL', '');
      expect(found?.Uuid).toBe(r.Uuid);
      expect(found).toEqual(r);
    });

    it('saving again replaces the fields (Users, LastUpdated, a dropped label)', async () => {
      const store = makeStore(10);
      const r = room();
      await store.saveRoom(r);
      const updated: ChatRoom = { ...r, Users: ['alice', 'bob'], LastUpdated: '1700000100' };
      delete updated.RoomLabel;
      await store.saveRoom(updated);
      expect(await store.getRoom(r.Uuid)).toEqual(updated);
    });

    it('returns copies: changing a returned room does not change the store', async () => {
      const store = makeStore(10);
      const r = room();
      await store.saveRoom(r);
      const got = await store.getRoom(r.Uuid);
      got?.Users.push('mallory');
      r.Users.push('eve');
      expect((await store.getRoom(r.Uuid))?.Users).toEqual(['alice']);
    });

    it('createRoom: the first room for a key wins, later ones get it back', async () => {
      const store = makeStore(10);
      const first = room();
      const second = room({ RoomTypeObject: first.RoomTypeObject, RoomLabel: 'other' });
      expect(await store.createRoom(first)).toEqual(first);
      expect(await store.createRoom(second)).toEqual(first);
      expect(await store.getRoom(second.Uuid)).toBeUndefined();
      expect((await store.findRoom('NODE', first.RoomTypeObject))?.Uuid).toBe(first.Uuid);
    });

    it('createRoom: concurrent creations agree on one room', async () => {
      const store = makeStore(10);
      const key = freshUuid('node');
      const rooms = Array.from({ length: 5 }, () => room({ RoomTypeObject: key }));
      const winners = await Promise.all(rooms.map((r) => store.createRoom(r)));
      expect(new Set(winners.map((w) => w.Uuid)).size).toBe(1);
      expect((await store.findRoom('NODE', key))?.Uuid).toBe(winners[0].Uuid);
    });
  });
}
