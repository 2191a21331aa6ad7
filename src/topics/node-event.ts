/**
 * Node change events (PROTOCOL.md 3.2): input schema, workspace visibility and
 * the per-workspace frame. Pure functions: no sockets, no bus, no Nest.
 */
import { isRecord, parseWith } from '../common/schema.js';
import { NodeChangeEvent, trimSlashes, type TreeNode } from '../protocol/events.js';
import type { Workspace } from '../auth/identity.js';

export type NodeEventType =
  | 'CREATE'
  | 'READ'
  | 'UPDATE_PATH'
  | 'UPDATE_CONTENT'
  | 'UPDATE_META'
  | 'UPDATE_USER_META'
  | 'DELETE';

/** Node fields are normalised by the schema; other fields pass through untouched. */
export type { NodeChangeEvent, TreeNode } from '../protocol/events.js';

const META_POLICIES = 'pydio:meta-policies';

/** Validates and normalises a NodeChangeEvent; the input is not modified. */
export function parseNodeEvent(raw: unknown): NodeChangeEvent {
  return parseWith(NodeChangeEvent, raw, 'event');
}

/**
 * The root of `ws` under which `path` is visible, normalised (no slashes at the ends).
 * The outermost root wins so that a node under nested roots gets one stable path.
 * An empty root path is ignored: it would expose the whole tree.
 */
export function visibleRoot(path: string | undefined, ws: Workspace): string | undefined {
  if (path === undefined) return undefined;
  const p = trimSlashes(path);
  let best: string | undefined;
  for (const root of ws.roots) {
    const r = trimSlashes(root.path);
    if (r === '') continue;
    if ((p === r || p.startsWith(r + '/')) && (best === undefined || r.length < best.length)) best = r;
  }
  return best;
}

/** The node as seen from `ws`, or undefined when it is not under `root`. */
function nodeInWorkspace(node: TreeNode | undefined, root: string | undefined, ws: Workspace): TreeNode | undefined {
  if (!node || root === undefined || node.Path === undefined) return undefined;
  const path = trimSlashes(node.Path);
  const r = trimSlashes(root);
  let rel: string;
  if (path === r) rel = ws.slug;
  else if (r !== '' && path.startsWith(r + '/')) rel = `${ws.slug}/${path.slice(r.length + 1)}`;
  else return undefined; // the caller's root does not hold this node: treat it as hidden
  const meta: Record<string, string> = {};
  for (const [k, v] of Object.entries(node.MetaStore ?? {})) {
    // pydio: metas are internal (policies, locks...), never sent to browsers.
    if (!k.startsWith('pydio:')) meta[k] = v;
  }
  meta.EventWorkspaceId = JSON.stringify(ws.uuid);
  return { ...node, Path: rel, MetaStore: meta };
}

/**
 * The frame one session receives for `ws`, given the root each side is visible
 * under (undefined: not visible). null when neither side is visible. A hidden
 * side is left out entirely so that its path never leaks.
 */
export function nodeFrame(
  event: NodeChangeEvent,
  ws: Workspace,
  targetRoot: string | undefined,
  sourceRoot: string | undefined,
): Record<string, unknown> | null {
  const target = nodeInWorkspace(event.Target, targetRoot, ws);
  const source = nodeInWorkspace(event.Source, sourceRoot, ws);
  if (!target && !source) return null;
  let type = event.Type;
  // A move across the workspace boundary looks like an arrival or a departure from inside.
  if (type === 'UPDATE_PATH' && !source) type = 'CREATE';
  else if (type === 'UPDATE_PATH' && !target) type = 'DELETE';
  const frame: Record<string, unknown> = { Type: type };
  if (source) frame.Source = source;
  if (target) frame.Target = target;
  if (event.Silent !== undefined) frame.Silent = event.Silent;
  if (event.Optimistic !== undefined) frame.Optimistic = event.Optimistic;
  return frame;
}

/** A node's `pydio:meta-policies`, read once per event; undefined when missing or unreadable. */
export function readMetaPolicies(node: TreeNode | undefined): unknown[] | undefined {
  const raw = node?.MetaStore?.[META_POLICIES];
  if (typeof raw !== 'string') return undefined;
  try {
    let policies: unknown = JSON.parse(raw);
    // MetaStore values are JSON strings, so the list may arrive encoded twice.
    if (typeof policies === 'string') policies = JSON.parse(policies);
    return Array.isArray(policies) ? policies : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Metas that Cells publishes as UPDATE_USER_META with no policies at all and that whoever
 * sees the node may read: the last comment of a NODE chat room (broker/chat PostMessage).
 */
const PUBLIC_USER_METAS = new Set(['comments']);

/**
 * Who may see an UPDATE_USER_META: its policies (Cells' user-meta service puts them on the
 * Source, with the previous values; the Target is read as a fallback), `'public'` for the
 * policy-less shape of the chat service (no Source, only public metas), else undefined (deny).
 */
export function userMetaPolicies(e: NodeChangeEvent): unknown[] | 'public' | undefined {
  const policies = readMetaPolicies(e.Source) ?? readMetaPolicies(e.Target);
  if (policies) return policies;
  const metas = Object.keys(e.Target?.MetaStore ?? {});
  if (!e.Source && metas.length > 0 && metas.every((k) => PUBLIC_USER_METAS.has(k))) return 'public';
  return undefined;
}

/** `common/proto/service` ResourcePolicyAction, by enum number. */
const POLICY_ACTIONS = ['ANY', 'OWNER', 'READ', 'WRITE', 'EDIT_RULES'];
/** ResourcePolicy.PolicyEffect, by enum number. */
const POLICY_EFFECTS = ['deny', 'allow'];

/**
 * An enum field as Go writes it: protojson gives the name, encoding/json (what Cells uses
 * for `pydio:meta-policies`) the number; both omit the zero value (ANY, deny).
 */
function enumName(value: unknown, names: string[]): string | undefined {
  if (value === undefined || value === null) return names[0];
  if (typeof value === 'number') return names[value];
  return typeof value === 'string' ? value : undefined;
}

/** Whether `policies` let one of `subjects` READ. Deny by default; a matching deny wins over an allow. */
export function policiesAllowRead(policies: unknown[] | undefined, subjects: readonly string[]): boolean {
  let allowed = false;
  for (const p of policies ?? []) {
    if (!isRecord(p) || typeof p.Subject !== 'string' || !subjects.includes(p.Subject)) continue;
    if (enumName(p.Action, POLICY_ACTIONS)?.toUpperCase() !== 'READ') continue;
    const effect = enumName(p.Effect, POLICY_EFFECTS)?.toLowerCase();
    if (effect === 'deny') return false;
    if (effect === 'allow') allowed = true;
  }
  return allowed;
}

/** Whether the node's `pydio:meta-policies` let one of `subjects` READ it. */
export function metaPolicyAllows(node: TreeNode | undefined, subjects: readonly string[]): boolean {
  return policiesAllowRead(readMetaPolicies(node), subjects);
}
