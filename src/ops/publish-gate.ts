import { PayloadTooLargeException, type HttpException } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { bearerKeyRefusal } from '../common/bearer-key.js';
import { jsonTooDeep } from '../common/json-bounds.js';
import type { Config } from '../config/config.js';

/** Why a publish request may not go on, judged on its Authorization header alone; undefined when it may. */
export function apiKeyRefusal(config: Config, authorization: string | undefined): HttpException | undefined {
  return bearerKeyRefusal(config.apiKey, authorization, { disabled: 'publishing over HTTP is disabled: set API_KEY', wrong: 'missing or wrong API key' });
}

/**
 * `POST /api/publish`'s API key, checked before the body is read (app.ts mounts this ahead
 * of the JSON body parser): a caller without the key is answered at once and the connection
 * closed, whatever body it is still (slowly) sending.
 */
export function requireApiKey(config: Config) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const refusal = apiKeyRefusal(config, req.headers.authorization);
    if (!refusal) return next();
    res.setHeader('Connection', 'close');
    next(refusal);
  };
}

/** A 400 that body-parser passes on as it is, and Nest's exception filter answers as JSON. */
class TooDeep extends Error {
  readonly status = 400;
  readonly expose = true;
}

/** body-parser's `verify`: refuses JSON nested deeper than `maxDepth` on the raw bytes, before parsing. */
export function rejectDeepJson(maxDepth: number) {
  return (_req: unknown, _res: unknown, body: Buffer): void => {
    if (jsonTooDeep(body, maxDepth)) throw new TooDeep(`JSON nested deeper than ${maxDepth} levels`);
  };
}

/** The event as it will travel on the bus must fit MAX_EVENT_BYTES too, or every instance would refuse it. */
export function checkEventSize(config: Config, channel: string, data: unknown): void {
  if (Buffer.byteLength(JSON.stringify({ pattern: channel, data })) > config.limits.maxEventBytes) {
    throw new PayloadTooLargeException(`event larger than ${config.limits.maxEventBytes} bytes`);
  }
}
