/**
 * The drift check of scripts/check-asyncapi.mjs: the zod schemas of src/protocol against the
 * component schemas of docs/asyncapi.yaml. Each schema is exported to JSON Schema by zod
 * (`z.toJSONSchema`: what is accepted for what the service reads, what is sent for what it
 * sends) and compared with its component, recursively through object properties and array
 * items: every property must be documented, the required fields must be the same, and every
 * JSON type the schema allows must be documented (null aside: the document's conventions say
 * null is absent). The document may say more (Cells fields the service passes through).
 */
import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import { toJSONSchema } from 'zod';

/** The component schemas of an AsyncAPI document, as written (references unresolved). */
export function componentSchemas(file) {
  return yaml.load(readFileSync(file, 'utf8')).components.schemas;
}

/** src/protocol export -> [component schema, 'input' (read by the service) | 'output' (sent by it)]. */
export const MAPPING = {
  events: {
    BusString: ['BusString', 'input'],
    MetaStore: ['JsonStringMap', 'input'],
    TreeNode: ['Node', 'input'],
    NodeChangeEvent: ['NodeChangeEvent', 'input'],
    TaskChangeEvent: ['TaskChangeEvent', 'input'],
    IdmChangeEvent: ['IdmChangeEvent', 'input'],
    ActivityObject: ['ActivityObject', 'input'],
    PostActivityEvent: ['PostActivityEvent', 'input'],
    ChatMessageFrame: ['ChatMessageFull', 'output'],
    ChatRoomFrame: ['ChatRoomFull', 'output'],
    ChatEvent: ['ChatEvent', 'input'],
    PushCommand: ['PushCommand', 'input'],
    PushCoalesce: ['PushCoalesce', 'input'],
  },
  frames: {
    Offset: ['Offset', 'output'],
    SubscribeFrame: ['SubscribeFrame', 'input'],
    UnsubscribeFrame: ['UnsubscribeFrame', 'input'],
    JoinRoomFrame: ['JoinRoomFrame', 'input'],
    LeaveRoomFrame: ['LeaveRoomFrame', 'input'],
    JoinRoomShortFrame: ['JoinRoomShortFrame', 'input'],
    LeaveRoomShortFrame: ['LeaveRoomShortFrame', 'input'],
    RoomRef: ['ChatRoomRef', 'input'],
    ChatJoinFrame: ['ChatJoinFrame', 'input'],
    ChatLeaveFrame: ['ChatLeaveFrame', 'input'],
    ChatHistoryFrame: ['ChatHistoryFrame', 'input'],
    ChatPostFrame: ['ChatPostFrame', 'input'],
    ChatDeleteMsgFrame: ['ChatDeleteMsgFrame', 'input'],
    SubscribedFrame: ['SubscribedFrame', 'output'],
    ExpiringFrame: ['ExpiringFrame', 'output'],
    PingFrame: ['PingFrame', 'output'],
    ClientId: ['ClientId', 'input'],
    ChatAckFrame: ['ChatAckFrame', 'output'],
    ResumedFrame: ['ResumedFrame', 'output'],
    NotRecovered: ['NotRecovered', 'output'],
    ErrorCode: ['ErrorCode', 'output'],
    ErrorFrame: ['ChatErrorFrame', 'output'],
    RoomAnswer: ['RoomReplyFrame', 'output'],
    FrameNode: ['FrameNode', 'output'],
    NodeEventFrame: ['NodeEventFrame', 'output'],
    TaskEventFrame: ['TaskEventFrame', 'output'],
    IdmEventFrame: ['IdmEventFrame', 'output'],
    ActivityObjectFrame: ['ActivityObject', 'output'],
    ActivityEventFrame: ['ActivityEventFrame', 'output'],
    PushPayload: ['PushPayload', 'output'],
    ChatRoomUpdateFrame: ['ChatRoomUpdateFrame', 'output'],
    ChatMayHaveMoreFrame: ['ChatMayHaveMoreFrame', 'output'],
    ChatMessageDeletedFrame: ['ChatMessageDeletedFrame', 'output'],
    CallFrame: ['CallFrame', 'input'],
    CallResultFrame: ['CallResultFrame', 'output'],
    CallErrorFrame: ['CallErrorFrame', 'output'],
  },
};

/** Exported schemas with no component of their own, and why. */
export const SKIPPED = {
  'frames.HistoryRequest': 'travels as JSON text inside ChatHistoryFrame.Message.Message, described there in prose',
  'frames.ChatMessageFrame': 'the same schema as events.ChatMessageFrame',
  'events.ChatMessage': 'compared inside ChatEvent (the document adds its required fields there)',
  'events.ChatRoom': 'compared inside ChatEvent (the document adds its required fields there)',
  'events.RoomType': 'compared where it is used: ChatRoom.Type and ChatRoomRef.Type',
  'frames.NodeEventType': 'compared where it is used: NodeEventFrame.Type',
  'frames.CallId': 'compared where it is used: CallFrame.id, CallResultFrame.id, CallErrorFrame.id',
};

const isSchema = (v) => typeof v === 'object' && v !== null && typeof v.safeParse === 'function' && '_zod' in v;
const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A JSON Schema node seen flat: its properties (each a list of nodes to read together), required fields, types. */
function view(node, components, seen = new Set()) {
  const out = { properties: new Map(), required: new Set(), types: undefined, values: undefined, items: [] };
  if (!isObject(node)) return out;
  if (node.$ref) {
    const name = node.$ref.replace('#/components/schemas/', '');
    if (seen.has(name)) return out;
    return merge(out, view(components[name], components, new Set([...seen, name])), 'all');
  }
  let types;
  if (node.type !== undefined) types = new Set([node.type].flat().map(jsonType));
  if (node.const !== undefined) types = new Set([jsonType(typeOf(node.const))]);
  if (node.enum !== undefined) types = new Set(node.enum.map((v) => jsonType(typeOf(v))));
  if (node.enum !== undefined || node.const !== undefined) out.values = new Set(node.enum ?? [node.const]);
  out.types = types;
  for (const [k, v] of Object.entries(node.properties ?? {})) out.properties.set(k, [v]);
  for (const k of node.required ?? []) out.required.add(k);
  if (node.items) out.items.push(node.items);
  if (isObject(node.additionalProperties)) out.additional = node.additionalProperties;
  for (const sub of node.allOf ?? []) merge(out, view(sub, components, seen), 'all');
  // null is absent (the document's conventions): `X or null` reads as X.
  const alternatives = [...(node.anyOf ?? []), ...(node.oneOf ?? [])].filter((sub) => !(isObject(sub) && sub.type === 'null' && Object.keys(sub).length === 1));
  if (alternatives.length) {
    const any = alternatives.map((sub) => view(sub, components, seen)).reduce((a, b) => merge(a, b, 'any'));
    merge(out, any, 'all');
  }
  return out;
}

/** allOf: properties and required add up, types intersect; anyOf: properties add up, required intersect, types add up. */
function merge(a, b, how) {
  for (const [k, nodes] of b.properties) a.properties.set(k, [...(a.properties.get(k) ?? []), ...nodes]);
  a.items.push(...b.items);
  a.additional ??= b.additional;
  if (how === 'all') {
    for (const k of b.required) a.required.add(k);
    if (b.types) a.types = a.types ? new Set([...a.types].filter((t) => b.types.has(t))) : b.types;
    if (b.values) a.values = a.values ? new Set([...a.values].filter((v) => b.values.has(v))) : b.values;
  } else {
    a.required = new Set([...a.required].filter((k) => b.required.has(k)));
    a.types = a.types && b.types ? new Set([...a.types, ...b.types]) : undefined;
    a.values = a.values && b.values ? new Set([...a.values, ...b.values]) : undefined;
  }
  return a;
}

const typeOf = (v) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'number' ? 'number' : typeof v);
/** integer is a number here: zod says number where the document says integer for a count. */
const jsonType = (t) => (t === 'integer' ? 'number' : t);

/** Read several nodes together (allOf). */
function viewAll(nodes, components) {
  return nodes.map((n) => view(n, components)).reduce((a, b) => merge(a, b, 'all'), { properties: new Map(), required: new Set(), types: undefined, values: undefined, items: [] });
}

function compare(gen, doc, genDefs, components, where, problems, depth = 0) {
  if (depth > 8) return;
  const g = viewAll([gen], genDefs);
  const d = viewAll(doc, components);
  const genTypes = g.types && new Set([...g.types].filter((t) => t !== 'null'));
  if (genTypes?.size && d.types) {
    const missing = [...genTypes].filter((t) => !d.types.has(t));
    if (missing.length) problems.push(`${where}: type ${missing.join('|')} allowed by src/protocol, not in the document (${[...d.types].join('|')})`);
  }
  if (g.values && d.values) {
    const show = (values) => [...values].map((v) => JSON.stringify(v)).join(', ');
    const extra = [...g.values].filter((v) => !d.values.has(v));
    const stale = [...d.values].filter((v) => !g.values.has(v));
    if (extra.length) problems.push(`${where}: value(s) ${show(extra)} in src/protocol, not in the document`);
    if (stale.length) problems.push(`${where}: value(s) ${show(stale)} in the document, not in src/protocol`);
  }
  for (const k of g.required) if (!d.required.has(k)) problems.push(`${where}.${k}: required by src/protocol, not in the document`);
  for (const k of d.required) if (!g.required.has(k) && g.properties.has(k)) problems.push(`${where}.${k}: required in the document, optional in src/protocol`);
  for (const [k, nodes] of g.properties) {
    const docNodes = d.properties.get(k) ?? (d.additional ? [d.additional] : undefined);
    if (!docNodes) problems.push(`${where}.${k}: in src/protocol, not in the document`);
    else compare({ allOf: nodes }, docNodes, genDefs, components, `${where}.${k}`, problems, depth + 1);
  }
  if (g.items.length && d.items.length) compare({ allOf: g.items }, d.items, genDefs, components, `${where}[]`, problems, depth + 1);
}

export function checkProtocolDrift(modules, components) {
  const problems = [];
  let compared = 0;
  let skipped = 0;
  for (const [module, exports] of Object.entries(modules)) {
    for (const [name, value] of Object.entries(exports)) {
      if (!isSchema(value)) continue;
      const id = `${module}.${name}`;
      if (SKIPPED[id]) {
        skipped++;
        continue;
      }
      const mapped = MAPPING[module]?.[name];
      if (!mapped) {
        problems.push(`${id}: a schema with no component in the document (add it to MAPPING in scripts/lib/asyncapi-drift.mjs, or to SKIPPED with a reason)`);
        continue;
      }
      const [component, io] = mapped;
      if (!components[component]) {
        problems.push(`${id}: component ${component} is missing from the document`);
        continue;
      }
      const gen = toJSONSchema(value, { io, unrepresentable: 'any', target: 'draft-2020-12' });
      compare(gen, [{ $ref: `#/components/schemas/${component}` }], gen.$defs ?? {}, components, `${id} (${component})`, problems);
      compared++;
    }
  }
  return { problems, compared, skipped };
}
