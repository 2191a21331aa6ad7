/**
 * Reference for bench/schema-parse.mjs: the hand-written parsers of the node, task and IDM
 * events as they were before src/protocol (commit 551e873), frozen in plain JS so that the
 * schema library's cost is always measured against them in the same run.
 */
class SchemaError extends Error {}
const isRecord = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);
function requireRecord(v, what) {
  if (!isRecord(v)) throw new SchemaError(`${what} must be an object`);
  return v;
}
function optString(obj, key, what) {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  throw new SchemaError(`${what}.${key} must be a string`);
}
const trimSlashes = (p) => p.replace(/^\/+|\/+$/g, '');

function parseMetaStore(value, what) {
  const raw = requireRecord(value, what);
  const out = {};
  for (const [k, v] of Object.entries(raw)) {
    if (v === undefined) continue;
    out[k] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  return out;
}
function parseNode(value, what) {
  const raw = requireRecord(value, what);
  const node = { ...raw };
  for (const key of ['Uuid', 'Path', 'Type', 'Size', 'MTime', 'Etag']) {
    const v = optString(raw, key, what);
    if (v === undefined) delete node[key];
    else node[key] = v;
  }
  if (node.Path !== undefined) node.Path = trimSlashes(node.Path);
  if (raw.MetaStore === undefined || raw.MetaStore === null) delete node.MetaStore;
  else node.MetaStore = parseMetaStore(raw.MetaStore, `${what}.MetaStore`);
  return node;
}
function optBoolean(obj, key) {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new SchemaError(`event.${key} must be a boolean`);
  return v;
}
export function parseNodeEvent(raw) {
  const obj = requireRecord(raw, 'event');
  let type = 'CREATE';
  if (obj.Type !== undefined && obj.Type !== null) {
    if (typeof obj.Type !== 'string') throw new SchemaError('event.Type must be a string');
    type = obj.Type;
  }
  const event = { Type: type };
  if (obj.Source !== undefined && obj.Source !== null) event.Source = parseNode(obj.Source, 'event.Source');
  if (obj.Target !== undefined && obj.Target !== null) event.Target = parseNode(obj.Target, 'event.Target');
  if (!event.Source && !event.Target) throw new SchemaError('event needs a Source or a Target');
  const silent = optBoolean(obj, 'Silent');
  if (silent !== undefined) event.Silent = silent;
  const optimistic = optBoolean(obj, 'Optimistic');
  if (optimistic !== undefined) event.Optimistic = optimistic;
  return event;
}

export function parseTaskEvent(raw) {
  const obj = requireRecord(raw, 'event');
  const task = requireRecord(obj.TaskUpdated, 'event.TaskUpdated');
  if (obj.Job !== undefined && obj.Job !== null) requireRecord(obj.Job, 'event.Job');
  if (task.TriggerOwner !== undefined && task.TriggerOwner !== null && typeof task.TriggerOwner !== 'string') {
    throw new SchemaError('event.TaskUpdated.TriggerOwner must be a string');
  }
  return obj;
}

function optRecord(obj, key, what) {
  const v = obj[key];
  return v === undefined || v === null ? undefined : requireRecord(v, `${what}.${key}`);
}
function checkStrings(obj, keys, what) {
  if (!obj) return;
  for (const k of keys) {
    const v = obj[k];
    if (v !== undefined && v !== null && typeof v !== 'string') throw new SchemaError(`${what}.${k} must be a string`);
  }
}
export function parseIdmEvent(raw) {
  const obj = requireRecord(raw, 'event');
  checkStrings(obj, ['Type'], 'event');
  checkStrings(optRecord(obj, 'User', 'event'), ['Uuid', 'Login'], 'event.User');
  checkStrings(optRecord(obj, 'Role', 'event'), ['Uuid'], 'event.Role');
  checkStrings(optRecord(obj, 'Workspace', 'event'), ['UUID'], 'event.Workspace');
  const acl = optRecord(obj, 'Acl', 'event');
  checkStrings(acl, ['RoleID'], 'event.Acl');
  if (acl) checkStrings(optRecord(acl, 'Action', 'event.Acl'), ['Name'], 'event.Acl.Action');
  return obj;
}
