import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { bearerKeyRefusal } from '../common/bearer-key.js';
import { CONFIG, type Config } from '../config/config.js';

/**
 * `Authorization: Bearer $ADMIN_API_KEY` on the server API. Without ADMIN_API_KEY the routes
 * answer 404, as if absent: a key that lists users and cuts their sessions is never implied,
 * and never the publish key (API_KEY), which every publishing backend holds.
 */
@Injectable()
export class AdminKeyGuard implements CanActivate {
  constructor(@Inject(CONFIG) private readonly config: Config) {}

  canActivate(context: ExecutionContext): boolean {
    const refusal = bearerKeyRefusal(this.config.admin.apiKey, context.switchToHttp().getRequest<Request>().headers.authorization, {
      disabled: 'the server API is disabled: set ADMIN_API_KEY',
      wrong: 'missing or wrong admin API key',
    });
    if (refusal) throw refusal;
    return true;
  }
}
