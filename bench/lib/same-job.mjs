/**
 * What the two comparison servers (floor.mjs, socketio.mjs) share: the minimum of Switchboard's
 * job, written the plain way, so that the comparison is of the same work.
 *
 * - A session's identity comes from the same HS256 JWT, verified with jose (as Switchboard does).
 * - A node event is delivered to the sessions holding a workspace whose root contains the node's
 *   path: the path's prefixes are looked up in a map (the same "root index" idea as Switchboard's
 *   registry), and the frame is rewritten per workspace as Switchboard does (path relative to the
 *   workspace slug, `pydio:` metas removed, `EventWorkspaceId` added), built once per workspace.
 * - A chat POST becomes a message `{Uuid, RoomUuid, Message, Author, Timestamp}`, stored in a
 *   Redis list (capped) and published, like Switchboard's store-then-publish.
 */
import { randomUUID } from 'node:crypto';
import { TextEncoder } from 'node:util';
import { jwtVerify } from 'jose';

export function tokenVerifier(secret) {
  const key = new TextEncoder().encode(secret);
  return async (token) => (await jwtVerify(token, key, { algorithms: ['HS256'] })).payload;
}

const trim = (p) => p.replace(/^\/+|\/+$/g, '');

/** Every prefix of `path` at a `/` boundary, shortest first (`a`, `a/b`, `a/b/c`). */
export function* prefixes(path) {
  if (!path) return;
  let end = path.indexOf('/');
  for (;;) {
    yield end === -1 ? path : path.slice(0, end);
    if (end === -1) return;
    end = path.indexOf('/', end + 1);
  }
}

/** The node as `ws` sees it from under `root` (the same rewrite as Switchboard's nodeFrame). */
function nodeIn(node, root, ws) {
  if (!node || node.Path === undefined) return undefined;
  const path = trim(node.Path);
  if (path !== root && !path.startsWith(root + '/')) return undefined;
  const meta = {};
  for (const [k, v] of Object.entries(node.MetaStore ?? {})) if (!k.startsWith('pydio:')) meta[k] = v;
  meta.EventWorkspaceId = JSON.stringify(ws.uuid);
  return { ...node, Path: path === root ? ws.slug : `${ws.slug}/${path.slice(root.length + 1)}`, MetaStore: meta };
}

/**
 * Workspaces by root path: `add(ws)` for each workspace a session holds, `audiences(event)`
 * the `{ws, frame}` pairs an event goes to (one per workspace whose root holds either side).
 */
export class RootIndex {
  constructor() {
    /** root path -> Map(workspace uuid -> {ws, root, members}) */
    this.byRoot = new Map();
  }

  /** Adds `member` under each root of `ws`; returns what `remove` needs. */
  add(ws, member) {
    const entries = [];
    for (const r of ws.roots ?? []) {
      const root = trim(r.path ?? '');
      if (!root) continue;
      let byWs = this.byRoot.get(root);
      if (!byWs) this.byRoot.set(root, (byWs = new Map()));
      let entry = byWs.get(ws.uuid);
      if (!entry) byWs.set(ws.uuid, (entry = { ws, root, members: new Set() }));
      entry.members.add(member);
      entries.push(entry);
    }
    return entries;
  }

  remove(entries, member) {
    for (const e of entries) {
      e.members.delete(member);
      if (e.members.size === 0) {
        const byWs = this.byRoot.get(e.root);
        byWs?.delete(e.ws.uuid);
        if (byWs?.size === 0) this.byRoot.delete(e.root);
      }
    }
  }

  /** [{entry, frame}] for `e`: one frame per workspace that sees the node. */
  audiences(e) {
    const hits = new Map();
    for (const side of ['Target', 'Source']) {
      for (const p of prefixes(e[side]?.Path && trim(e[side].Path))) {
        for (const entry of this.byRoot.get(p)?.values() ?? []) {
          let hit = hits.get(entry.ws.uuid);
          if (!hit) hits.set(entry.ws.uuid, (hit = { entries: [], ws: entry.ws }));
          hit.entries.push(entry);
          hit[side] ??= entry.root;
        }
      }
    }
    const out = [];
    for (const hit of hits.values()) {
      const target = hit.Target !== undefined ? nodeIn(e.Target, hit.Target, hit.ws) : undefined;
      const source = hit.Source !== undefined ? nodeIn(e.Source, hit.Source, hit.ws) : undefined;
      if (!target && !source) continue;
      const frame = { Type: e.Type };
      if (source) frame.Source = source;
      if (target) frame.Target = target;
      out.push({ entries: hit.entries, ws: hit.ws, frame });
    }
    return out;
  }
}

export function chatMessage(room, text, author) {
  return { Uuid: randomUUID(), RoomUuid: room, Message: String(text).slice(0, 4000), Author: author, Timestamp: String(Math.floor(Date.now() / 1000)) };
}

/**
 * Stores the message (a list capped like CHAT_HISTORY_LIMIT) and, with a `channel`, publishes
 * it in the same round trip.
 */
export function storeMessage(redis, historyKey, msg, channel) {
  const json = JSON.stringify(msg);
  const key = `${historyKey}:${msg.RoomUuid}`;
  const tx = redis.multi().rpush(key, json).ltrim(key, -1000, -1);
  if (channel) tx.publish(channel, json);
  return tx.exec();
}

/** The members of an audience's entries (one entry unless a workspace has nested roots). */
export function membersOf(entries) {
  return entries.length === 1 ? entries[0].members : new Set(entries.flatMap((e) => [...e.members]));
}
