import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { CONFIG, type Config } from '../config/config.js';
import { apiKeyRefusal } from './publish-gate.js';

/**
 * `Authorization: Bearer $API_KEY` on a route. The publish route is also checked before its
 * body is read (publish-gate.ts `requireApiKey`, mounted in app.ts: guards run after the body
 * parser); the guard is what the route itself declares, whatever path variant reaches it.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(@Inject(CONFIG) private readonly config: Config) {}

  canActivate(context: ExecutionContext): boolean {
    const refusal = apiKeyRefusal(this.config, context.switchToHttp().getRequest<Request>().headers.authorization);
    if (refusal) throw refusal;
    return true;
  }
}
