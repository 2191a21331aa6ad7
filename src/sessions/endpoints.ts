import { Inject, Injectable } from '@nestjs/common';
import { Revocations } from '../auth/revocations.js';
import { TokenVerifier } from '../auth/token-verifier.js';
import { CONFIG, type Config } from '../config/config.js';
import { Metrics } from '../metrics/metrics.js';
import { SessionHost } from './session-host.js';
import { SessionRegistry } from './session-registry.js';

/** The `/ws` sessions: event topics and push reach them here, the events gateway opens them. */
@Injectable()
export class EventSessions extends SessionHost {
  constructor(verifier: TokenVerifier, @Inject(CONFIG) config: Config, metrics: Metrics, revocations: Revocations) {
    super('events', new SessionRegistry(), verifier, config, metrics, revocations);
  }
}

/** The `/chat` sessions, indexed by chat room (`room:<uuid>`); the chat gateway opens them. */
@Injectable()
export class ChatSessions extends SessionHost {
  constructor(verifier: TokenVerifier, @Inject(CONFIG) config: Config, metrics: Metrics, revocations: Revocations) {
    super('chat', new SessionRegistry(), verifier, config, metrics, revocations);
  }
}
