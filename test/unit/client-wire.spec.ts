/**
 * The client ships the wire types flattened from src/protocol (client/src/wire.ts, written by
 * client/scripts/gen-wire.mjs) and a copy of the shared close codes: this fails when a schema
 * or close-codes.ts changed and the copy was not regenerated (`npm run build -w client`).
 */
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { CloseCode as ServerCodes } from '../../src/protocol/close-codes.js';
import { CloseCode as ClientCodes } from '../../client/src/index.js';

describe('client/src/wire.ts', () => {
  it('is what gen-wire.mjs writes from the schemas now', async () => {
    const { generate } = (await import('../../client/scripts/gen-wire.mjs' as string)) as { generate(): string };
    expect(readFileSync('client/src/wire.ts', 'utf8')).toBe(generate());
  }, 60_000);

  it('has the server close codes', () => {
    expect(ClientCodes).toEqual(ServerCodes);
  });
});
