/**
 * From a topic's routing to frames and the sessions that get them, against a view of
 * sessions: the endpoint's registry (live: every session of this instance) or one session
 * (replay: the resuming session, with its identity and rooms as they are now). The same
 * code decides both, so a replay can deliver nothing that live delivery would not.
 */
import type { Workspace } from '../auth/identity.js';
import type { Session } from '../sessions/session.js';
import { identityKeys, type RootHolder } from '../sessions/session-registry.js';
import { withOffset, type KeyRouting, type RootRouting, type Routing } from './topic.js';

/** What resolving an audience needs to ask; the SessionRegistry is one. */
export interface AudienceView {
  /** Sessions holding any of the keys. */
  withKeys(keys: readonly string[]): ReadonlySet<Session>;
  get(id: string): Session | undefined;
  /** (session, workspace, root) for each root at `path` or above it, outer roots first. */
  rootHolders(path: string | undefined): RootHolder[];
}

/** One frame and the sessions it goes to. `key` names the frame within its event: the same key, the same bytes. */
export interface FrameGroup {
  key: string;
  sessions: Session[];
  /** The frame serialized (with the offset), built when first asked. */
  data(): string;
}

export function isRootRouting(routing: Routing): routing is RootRouting & Routing {
  return 'frame' in routing && typeof routing.frame === 'function';
}

/** The frames of an event for the sessions of `view`, each serialized once; `offset` is its `@offset` text. */
export function frameGroups(routing: Routing, view: AudienceView, offset: string | undefined): FrameGroup[] {
  return isRootRouting(routing) ? rootGroups(routing, view, offset) : keyGroups(routing as KeyRouting, view, offset);
}

function keyGroups(routing: KeyRouting, view: AudienceView, offset: string | undefined): FrameGroup[] {
  const { keys, session: id } = routing;
  let sessions: Session[];
  if (id === undefined) sessions = keys.length ? [...view.withKeys(keys)] : [];
  else {
    const session = view.get(id);
    // Unsubscribed sessions receive nothing (PROTOCOL 2); the session filter narrows, never widens.
    sessions = session?.identity && (keys.length === 0 || view.withKeys(keys).has(session)) ? [session] : [];
  }
  if (!sessions.length) return [];
  const frame = routing.offset === false ? routing.frame : withOffset(routing.frame, offset);
  return [{ key: '', sessions, data: () => JSON.stringify(frame) }];
}

/**
 * One frame per (session, visible workspace). Candidates come from the root index (an ancestor
 * walk of each side's path, outer roots first), never from a scan of all sessions; frames that
 * are identical for many sessions (same workspace, same roots) are serialized once.
 */
function rootGroups(routing: RootRouting, view: AudienceView, offset: string | undefined): FrameGroup[] {
  // Workspace objects belong to one session's identity, so they key (session, workspace).
  const seen = new Map<Workspace, { session: Session; target?: string; source?: string }>();
  for (const side of ['target', 'source'] as const) {
    for (const { session, workspace, root } of view.rootHolders(routing[side])) {
      let hit = seen.get(workspace);
      if (!hit) seen.set(workspace, (hit = { session }));
      hit[side] ??= root; // the first is the outermost root (PROTOCOL 3.2 rewrite)
    }
  }
  const groups = new Map<string, FrameGroup & { frame: object | null }>();
  for (const [ws, { session, target, source }] of seen) {
    if (routing.allows && !routing.allows(session.identity!)) continue;
    const key = `${ws.uuid}\n${ws.slug}\n${target ?? ''}\n${source ?? ''}`;
    let group = groups.get(key);
    if (!group) {
      const frame = routing.frame(ws, target, source);
      groups.set(key, (group = { key, sessions: [], frame, data: () => JSON.stringify(withOffset(frame, offset)) }));
    }
    if (group.frame !== null) group.sessions.push(session);
  }
  return [...groups.values()].filter((g) => g.sessions.length);
}

/**
 * One session as an audience view: its identity's keys and its rooms now, its workspaces'
 * roots walked exactly as the registry walks them. What a replay resolves against.
 */
export class SessionView implements AudienceView {
  private readonly keys: Set<string>;
  private readonly roots = new Map<string, Workspace[]>();
  private readonly self: ReadonlySet<Session>;

  constructor(private readonly session: Session) {
    const identity = session.identity;
    this.keys = new Set([...(identity ? identityKeys(identity) : []), ...[...session.rooms].map((room) => `room:${room}`)]);
    for (const w of identity?.workspaces ?? []) {
      for (const r of w.roots) {
        const held = this.roots.get(r.path);
        if (!held) this.roots.set(r.path, [w]);
        else if (!held.includes(w)) held.push(w);
      }
    }
    this.self = new Set([session]);
  }

  withKeys(keys: readonly string[]): ReadonlySet<Session> {
    return keys.some((k) => this.keys.has(k)) ? this.self : new Set();
  }

  get(id: string): Session | undefined {
    return id === this.session.id ? this.session : undefined;
  }

  rootHolders(path: string | undefined): RootHolder[] {
    if (!path || !this.roots.size) return [];
    const out: RootHolder[] = [];
    for (let end = path.indexOf('/'); ; end = path.indexOf('/', end + 1)) {
      const root = end === -1 ? path : path.slice(0, end);
      for (const workspace of this.roots.get(root) ?? []) out.push({ session: this.session, workspace, root });
      if (end === -1) return out;
    }
  }
}
