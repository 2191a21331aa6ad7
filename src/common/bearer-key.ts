import { NotFoundException, UnauthorizedException, type HttpException } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Why a request may not go on, judged on `Authorization: Bearer <key>` alone; undefined when it
 * may. No key configured: 404 with `disabled` (the routes are as if absent). A key that differs:
 * 401 with `wrong`, compared in constant time (digests, so lengths tell nothing either).
 */
export function bearerKeyRefusal(key: string | undefined, authorization: string | undefined, texts: { disabled: string; wrong: string }): HttpException | undefined {
  if (!key) return new NotFoundException(texts.disabled);
  const given = /^Bearer (.+)$/i.exec(authorization ?? '')?.[1] ?? '';
  if (!timingSafeEqual(digest(given), digest(key))) return new UnauthorizedException(texts.wrong);
  return undefined;
}
