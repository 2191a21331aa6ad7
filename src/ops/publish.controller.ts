import { BadRequestException, Body, Controller, Headers, HttpCode, Inject, NotFoundException, Post, ServiceUnavailableException, UnauthorizedException } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import { Bus } from '../bus/bus.js';
import { isRecord, SchemaError } from '../common/schema.js';
import { CONFIG, type Config } from '../config/config.js';
import { TopicRouter } from '../topics/topic-router.js';

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * `POST /api/publish {"channel","data"}` with `Authorization: Bearer $API_KEY`: the way in
 * for a backend without Redis, and for every event in embedded mode. The payload is
 * validated like a bus payload, then published on the bus so that every instance gets it.
 */
@Controller('api')
export class PublishController {
  constructor(
    @Inject(CONFIG) private readonly config: Config,
    private readonly router: TopicRouter,
    private readonly bus: Bus,
  ) {}

  @Post('publish')
  @HttpCode(202)
  async publish(@Headers('authorization') auth: string | undefined, @Body() body: unknown) {
    const key = this.config.apiKey;
    if (!key) throw new NotFoundException('publishing over HTTP is disabled: set API_KEY');
    const given = /^Bearer (.+)$/i.exec(auth ?? '')?.[1] ?? '';
    if (!timingSafeEqual(digest(given), digest(key))) throw new UnauthorizedException('missing or wrong API key');
    if (!isRecord(body)) throw new BadRequestException('body must be a JSON object {"channel": "...", "data": {...}}');
    const { channel, data } = body;
    if (typeof channel !== 'string' || !channel) throw new BadRequestException('"channel" must be a non-empty string');
    if (data === undefined) throw new BadRequestException('"data" is required');
    try {
      this.router.validate(channel, data);
    } catch (err) {
      if (err instanceof SchemaError) throw new BadRequestException(err.message);
      throw err;
    }
    try {
      await this.bus.publish(channel, data);
    } catch {
      throw new ServiceUnavailableException('bus not connected');
    }
    return { published: true, channel };
  }
}
