/** The push topics (PROTOCOL 5): the native channel and websocket-push's `BackgroundPush`. Pure routes. */
import { Inject, Injectable } from '@nestjs/common';
import { isRecord } from '../common/schema.js';
import { CONFIG, type Config } from '../config/config.js';
import { Topic, type Coalescing, type Route, type TopicHandler } from '../delivery/topic.js';
import { parsePushCommand, pushTargets, type PushCommand } from './push-rules.js';
import { PushService } from './push.service.js';

/** A coalesced push's window when it names none (rt-coreExtension-websocket's 200 ms). */
export const DEFAULT_COALESCE_MS = 200;

/**
 * Pushes that carry `coalesce: {key, windowMs?}` (PROTOCOL 5): those to the same target with
 * the same key within the window (from the first, at most `maxMs`) leave as the last one, with
 * its offset; a replay sends the last one only. `channel` keeps the two push channels apart.
 */
export function pushCoalescing(channel: string, maxMs: number): Coalescing<PushCommand> {
  return {
    key: (cmd) => (cmd.kind === 'push' && cmd.coalesce ? [channel, cmd.user ?? '', cmd.room ?? '', cmd.session ?? '', cmd.coalesce.key].join('\n') : undefined),
    merge: (_pending, next) => next,
    window: (first) => {
      const ms = Math.min(first.kind === 'push' ? (first.coalesce?.windowMs ?? DEFAULT_COALESCE_MS) : DEFAULT_COALESCE_MS, maxMs);
      return { windowMs: ms, maxWaitMs: ms };
    },
    replayLatest: true,
  };
}

/**
 * A push to its targets; a room command (subscribe/unsubscribe) is an effect, applied live
 * only. A replay re-sends pushes to users and sessions, not to rooms (PROTOCOL 6: a session's
 * rooms then are not those of when the push was published).
 */
export function pushRoute(cmd: PushCommand, stampOffset: boolean): Route {
  if (cmd.kind !== 'push') return { keys: [], frame: null, effects: [cmd], replay: false };
  const { keys, session, tab } = pushTargets(cmd);
  const { payload } = cmd;
  // A tab of a shared connection is told apart by "@tab" alone: a payload that cannot carry it is not delivered.
  if (tab !== undefined && !isRecord(payload)) return { drop: 'tab_payload_not_object' };
  const frame = stampOffset || tab !== undefined ? routed(payload, stampOffset ? cmd.room : undefined, tab) : payload;
  return { keys, session, frame, offset: stampOffset && isRecord(payload), replay: cmd.room === undefined };
}

/**
 * An object payload with the room it was pushed to and the tab it is for, so that the tabs
 * sharing one connection can route it (PROTOCOL 5.1). These two keys are Switchboard's: a
 * publisher's own are dropped. (`BackgroundPush` payloads stay byte for byte unless they name a tab.)
 */
function routed(payload: unknown, room: string | undefined, tab: string | undefined): unknown {
  if (!isRecord(payload) || (room === undefined && tab === undefined && !('@room' in payload) && !('@tab' in payload))) return payload;
  const { '@room': _room, '@tab': _tab, ...rest } = payload;
  return { ...rest, ...(room !== undefined && { '@room': room }), ...(tab !== undefined && { '@tab': tab }) };
}

/** Injectable so that its constructor's parameter types are recorded for the subclasses. */
@Injectable()
abstract class PushTopicBase implements TopicHandler<PushCommand, PushCommand> {
  readonly topic = 'push';
  protected abstract readonly stampOffset: boolean;
  readonly coalesce: Coalescing<PushCommand>;

  constructor(
    private readonly push: PushService,
    @Inject(CONFIG) config: Config,
  ) {
    this.coalesce = pushCoalescing(new.target.name, config.push.coalesceMaxMs);
  }

  parse(raw: unknown): PushCommand {
    return parsePushCommand(raw);
  }

  route(cmd: PushCommand): Route {
    return pushRoute(cmd, this.stampOffset);
  }

  apply(cmd: PushCommand): void {
    this.push.command(cmd);
  }
}

/** Push commands; a JSON object pushed gets the event's `"@offset"` as its last key. */
@Topic({ channel: 'push' })
@Injectable()
export class PushTopic extends PushTopicBase {
  protected readonly stampOffset = true;
}

/** websocket-push's channel: its receivers get their payload byte for byte, no offset added. */
@Topic({ channel: 'pushCompat' })
@Injectable()
export class BackgroundPushTopic extends PushTopicBase {
  protected readonly stampOffset = false;
}
