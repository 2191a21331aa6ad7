import { BadRequestException, Body, Controller, Headers, HttpCode, Inject, Post, ServiceUnavailableException } from '@nestjs/common';
import { Bus } from '../bus/bus.js';
import { isRecord, SchemaError } from '../common/schema.js';
import { CONFIG, type Config } from '../config/config.js';
import { TopicRouter } from '../topics/topic-router.js';
import { apiKeyRefusal, checkEventSize } from './publish-gate.js';

/**
 * `POST /api/publish {"channel","data"}` with `Authorization: Bearer $API_KEY`: the way in
 * for a backend without Redis, and for every event in embedded mode. The payload is
 * validated like a bus payload, then published on the bus so that every instance gets it.
 * The key, the body's size and its depth are checked before the body is parsed (publish-gate.ts, app.ts).
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
    // Already checked before the body was read; again here, should a path variant ever get past that.
    const refusal = apiKeyRefusal(this.config, auth);
    if (refusal) throw refusal;
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
    checkEventSize(this.config, channel, data);
    try {
      await this.bus.publish(channel, data);
    } catch {
      throw new ServiceUnavailableException('bus not connected');
    }
    return { published: true, channel };
  }
}
