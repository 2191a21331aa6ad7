import { Inject, Injectable, NotFoundException, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { createHash, timingSafeEqual } from 'node:crypto';
import { CONFIG, type Config } from '../config/config.js';

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * `Authorization: Bearer $ADMIN_API_KEY` on the server API. Without ADMIN_API_KEY the routes
 * answer 404, as if absent: a key that lists users and cuts their sessions is never implied,
 * and never the publish key (API_KEY), which every publishing backend holds.
 */
@Injectable()
export class AdminKeyGuard implements CanActivate {
  constructor(@Inject(CONFIG) private readonly config: Config) {}

  canActivate(context: ExecutionContext): boolean {
    const key = this.config.admin.apiKey;
    if (!key) throw new NotFoundException('the server API is disabled: set ADMIN_API_KEY');
    const given = /^Bearer (.+)$/i.exec(context.switchToHttp().getRequest<Request>().headers.authorization ?? '')?.[1] ?? '';
    if (!timingSafeEqual(digest(given), digest(key))) throw new UnauthorizedException('missing or wrong admin API key');
    return true;
  }
}
