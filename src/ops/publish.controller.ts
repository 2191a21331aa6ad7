import { BadRequestException, Body, Controller, HttpCode, Inject, Post, ServiceUnavailableException, UseGuards } from '@nestjs/common';
import { isRecord, SchemaError } from '../common/schema.js';
import { CONFIG, type Config } from '../config/config.js';
import { Ingress } from '../delivery/ingress.js';
import { TopicRegistry } from '../delivery/topic-registry.js';
import { ApiKeyGuard } from './api-key.guard.js';
import { checkEventSize } from './publish-gate.js';

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
    private readonly topics: TopicRegistry,
    private readonly ingress: Ingress,
  ) {}

  @Post('publish')
  @HttpCode(202)
  @UseGuards(ApiKeyGuard)
  async publish(@Body() body: unknown) {
    if (!isRecord(body)) throw new BadRequestException('body must be a JSON object {"channel": "...", "data": {...}}');
    const { channel, data } = body;
    if (typeof channel !== 'string' || !channel) throw new BadRequestException('"channel" must be a non-empty string');
    if (data === undefined) throw new BadRequestException('"data" is required');
    try {
      this.topics.validate(channel, data);
    } catch (err) {
      if (err instanceof SchemaError) throw new BadRequestException(err.message);
      throw err;
    }
    checkEventSize(this.config, channel, data);
    try {
      await this.ingress.publish(channel, data);
    } catch {
      throw new ServiceUnavailableException('bus not connected');
    }
    return { published: true, channel };
  }
}
