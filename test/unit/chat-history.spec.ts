import { describe, it, expect } from '@jest/globals';
import { historyWindow } from '../../src/chat/chat-store.js';
import { MemoryChatStore } from '../../src/chat/memory-chat-store.js';
import { chatStoreContract, fill, message } from '../support/chat-store-contract.js';

chatStoreContract('MemoryChatStore', (historyLimit) => new MemoryChatStore({ historyLimit }));

describe('MemoryChatStore defaults', () => {
  it('keeps 1000 messages per room by default', async () => {
    const store = new MemoryChatStore();
    await fill(store, 'r', 1003);
    const all = await store.listMessages('r', 0, 5000);
    expect(all).toHaveLength(1000);
    expect(all[0]).toEqual({ ...message('r', 3), Seq: 4 });
  });
});

describe('historyWindow', () => {
  it.each([
    [0, 0, 40, [0, 0]],
    [10, 0, 3, [7, 10]],
    [10, 8, 3, [0, 2]],
    [10, 12, 3, [0, 0]],
    [10, -1, 3, [7, 10]],
    [10, 0, -3, [10, 10]],
  ])('length %i, offset %i, limit %i -> %j', (length, offset, limit, expected) => {
    expect(historyWindow(length, offset, limit)).toEqual(expected);
  });
});
