/**
 * Authorization property test: random users, roles, profiles, workspaces (with roots), push
 * rooms, chat rooms, identity changes and events of every topic, against the real service
 * (two instances, in process) and a real Redis. Every frame a session receives is checked
 * against an oracle written from PROTOCOL.md sections 2 to 5 (not from src/), and every frame
 * the oracle expects must arrive, exactly once.
 *
 * Seeded: set PROPERTY_SEED to replay a run (the seed is printed). Node uuids are unique per
 * event, so coalescing never merges two events; order across topics is not asserted (coalesced
 * types are delivered after a window), only the multiset of frames per session.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { Backend, Client, REDIS_URL, ask as askFrame, startInstance, testChannels, token, waitSubscribed, type Frame, type Instance, channelsOf } from '../support/harness.js';
import { prng } from '../support/fuzz.js';

const SEED = Number(process.env.PROPERTY_SEED ?? Math.floor(Math.random() * 2 ** 31));
const ROUNDS = 8;
const EVENTS_PER_ROUND = 100;
const tag = randomBytes(3).toString('hex');
const SYSTEM_USER = 'pydio.system.user';

/** Seeded picks for the cases (the hostile suites' mulberry32: the same seed, the same run). */
function picker(seed: number) {
  const next = prng(seed);
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(list: readonly T[]): T => list[int(list.length)];
  const chance = (p: number) => next() < p;
  const subset = <T>(list: readonly T[], p = 0.5): T[] => list.filter(() => chance(p));
  return { int, pick, chance, subset };
}
const rnd = picker(SEED);

// ---------------------------------------------------------------- the world, as the oracle sees it

interface WorkspaceDef {
  uuid: string;
  slug: string;
  roots: string[];
}
interface Who {
  user: string;
  subject: string;
  profile: string;
  roles: string[];
  workspaces: WorkspaceDef[];
}

const USERS = ['ann', 'ben', 'cat', 'dan'].map((u) => `${u}-${tag}`);
const ROLES = ['r0', 'r1', 'r2'].map((r) => `${r}-${tag}`);
const PROFILES = ['standard', 'shared', 'admin'];
/** Roots never nest inside one workspace (so the rewrite is unambiguous); across workspaces they may. */
const WORKSPACES: WorkspaceDef[] = [
  { uuid: `w0-${tag}`, slug: 'zero', roots: [`ds-${tag}/a`] },
  { uuid: `w1-${tag}`, slug: 'one', roots: [`ds-${tag}/a/b`, `ds-${tag}/c`] },
  { uuid: `w2-${tag}`, slug: 'two', roots: [`ds-${tag}/c/d`] },
  { uuid: `w3-${tag}`, slug: 'three', roots: [`ds-${tag}/e`, `ds-${tag}/f/g`] },
];
/** Held by every identity and never deleted: carries the end-of-round node barrier. */
const SENTINEL_WS: WorkspaceDef = { uuid: `ws-${tag}`, slug: 'sentinel', roots: [`sentinel-${tag}`] };

function randomWho(user = rnd.pick(USERS)): Who {
  return { user, subject: `sub-${user}`, profile: rnd.pick(PROFILES), roles: rnd.subset(ROLES), workspaces: [...rnd.subset(WORKSPACES), SENTINEL_WS] };
}

function jwtOf(who: Who): string {
  const workspaces = who.workspaces.map((w) => ({ uuid: w.uuid, slug: w.slug, label: w.slug, roots: w.roots.map((path, i) => ({ uuid: `${w.uuid}-r${i}`, path })) }));
  return token({ name: who.user, sub: who.subject, profile: who.profile, roles: who.roles, workspaces });
}

/** PROTOCOL 2: the subjects of a session, for meta policies. */
const subjectsOf = (who: Who) => ['*', `user:${who.user}`, `profile:${who.profile}`, ...who.roles.map((r) => `role:${r}`)];

/** PROTOCOL 3.1: the root of `ws` under which `path` lies (equal to it or below it), if any. */
function rootOf(ws: WorkspaceDef, path: string | undefined): string | undefined {
  if (!path) return undefined;
  return ws.roots.find((root) => path === root || path.startsWith(`${root}/`));
}

/** PROTOCOL 5: may `who` join push room `room` on its own request? */
function admitsPushRoom(who: Who | undefined, room: string): boolean {
  if (!who) return false;
  if (room.startsWith('user:')) return room.slice(5) === who.user;
  if (room.startsWith('workspace:')) return who.workspaces.some((w) => w.uuid === room.slice(10).split('/')[0]);
  return /^open\/.*$/s.test(room); // PUSH_OPEN_ROOMS=open/*
}

interface ChatRoomDef {
  Type: 'GLOBAL' | 'WORKSPACE' | 'USER';
  RoomTypeObject: string;
  uuid?: string;
}
/** PROTOCOL 4: may `who` be in chat room `room`? */
function admitsChatRoom(who: Who | undefined, room: ChatRoomDef): boolean {
  if (!who) return false;
  if (room.Type === 'GLOBAL') return true;
  if (room.Type === 'WORKSPACE') return who.workspaces.some((w) => w.uuid === room.RoomTypeObject);
  return room.RoomTypeObject.split(',').map((s) => s.trim()).includes(who.user);
}

interface Sess {
  name: string;
  instance: number;
  endpoint: 'ws' | 'chat';
  c: Client;
  who?: Who;
  sessionId?: string;
  /** Push room names (/ws) or chat room uuids (/chat) the session is in. */
  rooms: Set<string>;
  /** Chat rooms it was ever in (ROOM_UPDATE and error frames about them may come). */
  everRooms: Set<string>;
  /** Expected event frames: key -> details, and how many of each key arrived. */
  expected: Map<string, { count: number; check?: (f: Frame) => void }>;
  /** Index of the first frame not yet checked. */
  checked: number;
  received: Map<string, number>;
}

// ---------------------------------------------------------------- the test

describe(`authorization property test (seed ${SEED})`, () => {
  const ch = testChannels();
  let instances: Instance[];
  let backend: Backend;
  const sessions: Sess[] = [];
  const chatRooms: ChatRoomDef[] = [
    { Type: 'GLOBAL', RoomTypeObject: `g-${tag}` },
    ...WORKSPACES.map((w) => ({ Type: 'WORKSPACE' as const, RoomTypeObject: w.uuid })),
    { Type: 'USER', RoomTypeObject: `${USERS[0]},${USERS[1]}` },
    { Type: 'USER', RoomTypeObject: USERS[2] },
    { Type: 'USER', RoomTypeObject: `${USERS[3]}, ${USERS[0]}` },
  ];
  const pushRooms = [...USERS.map((u) => `user:${u}`), ...WORKSPACES.map((w) => `workspace:${w.uuid}/board`), ...WORKSPACES.slice(0, 2).map((w) => `workspace:${w.uuid}`), 'open/lobby', 'open/x/y', 'closed-room'];
  let evSeq = 0;
  const nextId = () => `ev${++evSeq}-${tag}`;
  const violations: string[] = [];
  const published = new Map<string, unknown>();

  const ask = (c: Client, frame: object, match: (f: Frame) => boolean) => askFrame(c, frame, match, 5000);

  function expect1(s: Sess, key: string, check?: (f: Frame) => void): void {
    const e = s.expected.get(key);
    if (e) e.count++;
    else s.expected.set(key, { count: 1, check });
  }

  // -------------------------------------------------------------- client operations

  async function subscribe(s: Sess, who: Who): Promise<void> {
    const ack = await ask(s.c, { '@type': 'subscribe', jwt: jwtOf(who) }, (f) => f['@type'] === 'subscribed' || (f['@type'] === 'error' && !('Room' in f) && !('room' in f)));
    if (ack['@type'] !== 'subscribed') throw new Error(`subscribe refused: ${JSON.stringify(ack)}`);
    s.who = who;
    s.sessionId = ack.sessionId as string;
    // PROTOCOL 2: every room the session held is re-checked against the new identity.
    for (const room of [...s.rooms]) if (!admits(s, room)) s.rooms.delete(room);
  }

  function unsubscribe(s: Sess): void {
    s.c.send({ '@type': 'unsubscribe' });
    s.who = undefined;
    s.rooms.clear(); // "clears the session"
  }

  function admits(s: Sess, room: string): boolean {
    if (s.endpoint === 'ws') return admitsPushRoom(s.who, room);
    const def = chatRooms.find((r) => r.uuid === room);
    return def !== undefined && admitsChatRoom(s.who, def);
  }

  async function joinPushRoom(s: Sess, room: string): Promise<void> {
    const reply = await ask(s.c, { '@type': 'joinRoom', room }, (f) => f['@type'] === 'room' && f.room === room && !('left' in f));
    const admitted = admitsPushRoom(s.who, room);
    if (reply.joined !== admitted) violations.push(`${s.name} joinRoom ${room}: joined=${String(reply.joined)}, oracle ${admitted}`);
    if (reply.joined) s.rooms.add(room);
  }

  async function joinChatRoom(s: Sess, def: ChatRoomDef): Promise<void> {
    const ref = { Type: def.Type, RoomTypeObject: def.RoomTypeObject };
    const about = (f: Frame) => ((f.Room ?? {}) as { RoomTypeObject?: string }).RoomTypeObject === def.RoomTypeObject;
    const reply = await ask(s.c, { '@type': 'JOIN', Room: ref }, (f) => (f['@type'] === 'ROOM_UPDATE' || f['@type'] === 'error') && about(f));
    const admitted = admitsChatRoom(s.who, def);
    const joined = reply['@type'] === 'ROOM_UPDATE';
    if (joined !== admitted) violations.push(`${s.name} JOIN ${def.Type} ${def.RoomTypeObject}: joined=${joined}, oracle ${admitted}`);
    if (!joined) return;
    const uuid = (reply.Room as { Uuid: string }).Uuid;
    if (def.uuid !== undefined && def.uuid !== uuid) violations.push(`${def.RoomTypeObject} has two uuids`);
    def.uuid = uuid;
    s.rooms.add(uuid);
    s.everRooms.add(uuid);
  }

  /** A client POST: stored and sent to every member of the room (PROTOCOL 4), or refused to a non-member. */
  async function post(s: Sess): Promise<void> {
    const known = chatRooms.filter((r) => r.uuid);
    if (!known.length || !s.who) return;
    const room = rnd.pick(known).uuid!;
    const id = nextId();
    const members = sessions.filter((x) => x.endpoint === 'chat' && x.who && x.rooms.has(room));
    s.c.send({ '@type': 'POST', Message: { RoomUuid: room, Message: id } });
    if (!s.rooms.has(room)) {
      await s.c.next((f) => f['@type'] === 'error' && f.error === 'room not joined' && ((f.Room ?? {}) as { Uuid?: string }).Uuid === room, 5000);
      return;
    }
    const author = s.who.user;
    for (const m of members) expect1(m, id, (f) => f.Author !== author && violations.push(`${m.name}: message ${id} with Author ${String(f.Author)}`));
    // Delivered everywhere before the next client operation changes who is in the room.
    for (const m of members) await m.c.next((f) => f.Message === id, 5000);
  }

  // -------------------------------------------------------------- events, and who must get them

  const publish = (channel: string, payload: unknown) => backend.publish(channel, payload, rnd.chance(0.5) ? 'bare' : 'envelope');
  const wsSessions = () => sessions.filter((s) => s.endpoint === 'ws' && s.who);

  function randomPath(): string {
    const base = rnd.chance(0.8) ? rnd.pick([...WORKSPACES.flatMap((w) => w.roots), `ds-${tag}`, `ds-${tag}/zz`, `other-${tag}`]) : rnd.pick(WORKSPACES).roots[0] + 'x'; // a sibling that shares a prefix
    return `${base}/${rnd.pick(['f.txt', 'dir/g.md', 'h'])}`;
  }

  async function nodeEvent(forceType?: string, fixedPath?: string): Promise<string> {
    const id = nextId();
    const type = forceType ?? rnd.pick(['CREATE', 'UPDATE_CONTENT', 'UPDATE_META', 'UPDATE_PATH', 'DELETE', 'UPDATE_USER_META', 'READ']);
    const targetPath = fixedPath ?? randomPath();
    const sourcePath = type === 'UPDATE_PATH' ? randomPath() : undefined;
    const policies = type === 'UPDATE_USER_META' ? randomPolicies() : undefined;
    const meta: Record<string, string> = { name: JSON.stringify('f'), 'pydio:secret': '"x"' };
    if (policies) meta['pydio:meta-policies'] = JSON.stringify(policies);
    const node = (path: string) => ({ Uuid: id, Path: path, Type: 'LEAF', Size: '3', MetaStore: { ...meta } });
    const event: Record<string, unknown> = { Type: type, Target: node(targetPath) };
    if (sourcePath) event.Source = node(sourcePath);
    published.set(id, event);
    await publish(rnd.chance(0.5) || forceType ? ch.CHANNEL_TREE : ch.CHANNEL_META, event);
    if (type === 'READ') return id; // PROTOCOL 3.2: dropped
    for (const s of wsSessions()) {
      const who = s.who!;
      if (policies && !policyAllowsRead(policies, subjectsOf(who))) continue;
      for (const w of who.workspaces) {
        const tRoot = rootOf(w, targetPath);
        const sRoot = rootOf(w, sourcePath);
        if (!tRoot && !sRoot) continue;
        const expectedType = type === 'UPDATE_PATH' && !sRoot ? 'CREATE' : type === 'UPDATE_PATH' && !tRoot ? 'DELETE' : type;
        const rewrite = (path: string, root: string) => `${w.slug}${path.slice(root.length)}`;
        expect1(s, `${id}|${w.uuid}`, (f) => {
          const problems: string[] = [];
          if (f.Type !== expectedType) problems.push(`Type ${String(f.Type)} != ${expectedType}`);
          for (const [side, root, path] of [['Target', tRoot, targetPath], ['Source', sRoot, sourcePath]] as const) {
            if (!root || !path) continue;
            const n = f[side] as { Path?: string; MetaStore?: Record<string, string> } | undefined;
            if (n?.Path !== rewrite(path, root)) problems.push(`${side}.Path ${String(n?.Path)} != ${rewrite(path, root)}`);
            if (n?.MetaStore?.EventWorkspaceId !== JSON.stringify(w.uuid)) problems.push(`${side} EventWorkspaceId ${String(n?.MetaStore?.EventWorkspaceId)}`);
            if (Object.keys(n?.MetaStore ?? {}).some((k) => k.startsWith('pydio:'))) problems.push(`${side} keeps a pydio: meta`);
          }
          if (problems.length) violations.push(`${s.name} node ${id} in ${w.uuid}: ${problems.join('; ')}`);
        });
      }
    }
    return id;
  }

  function randomPolicies(): Array<{ Subject: string; Action: string; Effect: string }> {
    const subjects = ['*', ...USERS.map((u) => `user:${u}`), ...PROFILES.map((p) => `profile:${p}`), ...ROLES.map((r) => `role:${r}`)];
    return Array.from({ length: 1 + rnd.int(3) }, () => ({ Subject: rnd.pick(subjects), Action: rnd.pick(['READ', 'READ', 'WRITE']), Effect: rnd.pick(['allow', 'allow', 'deny']) }));
  }

  /** PROTOCOL 3.2: READ allowed to one of the subjects, with no matching deny. */
  function policyAllowsRead(policies: Array<{ Subject: string; Action: string; Effect: string }>, subjects: string[]): boolean {
    const matching = policies.filter((p) => p.Action === 'READ' && subjects.includes(p.Subject));
    return matching.some((p) => p.Effect === 'allow') && !matching.some((p) => p.Effect === 'deny');
  }

  async function taskEvent(): Promise<void> {
    const id = nextId();
    const owner = rnd.chance(0.3) ? SYSTEM_USER : rnd.pick(USERS);
    await publish(ch.CHANNEL_TASKS, { TaskUpdated: { ID: id, TriggerOwner: owner, Status: 'Running', Progress: 0.5 }, Job: { ID: `job-${id}` } });
    for (const s of wsSessions()) {
      if (s.who!.user === owner || (owner === SYSTEM_USER && s.who!.profile === 'admin')) expect1(s, id);
    }
  }

  async function activityEvent(): Promise<void> {
    const id = nextId();
    const ownerType = rnd.pick(['USER', 'NODE']);
    const box = rnd.pick(['inbox', 'outbox']);
    const owner = rnd.pick(USERS);
    const actor = rnd.pick(USERS);
    await publish(ch.CHANNEL_ACTIVITY, { OwnerType: ownerType, OwnerId: owner, BoxName: box, Activity: { id, type: 'Update', actor: { id: actor }, object: { name: `ds/some/${id}.txt` } } });
    if (box !== 'inbox' && ownerType !== 'USER') return;
    for (const s of wsSessions()) if (s.who!.user === owner && actor !== owner) expect1(s, id, (f) => f['@type'] !== 'activity' && violations.push(`${s.name} activity frame without @type`));
  }

  async function idmEvent(): Promise<void> {
    const id = nextId();
    const kind = rnd.pick(['acl', 'acl-param', 'role', 'user-login', 'user-uuid', 'workspace']);
    let event: Record<string, unknown>;
    let receives: (who: Who) => boolean;
    switch (kind) {
      case 'acl': {
        const role = rnd.pick(ROLES);
        event = { Type: 'UPDATE', Acl: { ID: id, RoleID: role, Action: { Name: 'read' } } };
        receives = (who) => who.roles.includes(role);
        break;
      }
      case 'acl-param': {
        // Rule 1 does not apply, and no later rule names anyone.
        event = { Type: 'UPDATE', Acl: { ID: id, RoleID: rnd.pick(ROLES), Action: { Name: rnd.pick(['parameter:x', 'action:y']) } } };
        receives = () => false;
        break;
      }
      case 'role': {
        const role = rnd.pick(ROLES);
        event = { Type: 'UPDATE', Role: { Uuid: role, Label: id } };
        receives = (who) => who.roles.includes(role);
        break;
      }
      case 'user-login': {
        const user = rnd.pick(USERS);
        event = { Type: 'UPDATE', User: { Login: user, Uuid: `sub-${rnd.pick(USERS)}`, Attributes: { mark: id }, Password: 'hash' } };
        receives = (who) => who.user === user;
        break;
      }
      case 'user-uuid': {
        const subject = `sub-${rnd.pick(USERS)}`;
        event = { Type: 'UPDATE', User: { Uuid: subject, Attributes: { mark: id } } };
        receives = (who) => who.subject === subject;
        break;
      }
      default: {
        const ws = rnd.pick(WORKSPACES);
        event = { Type: 'UPDATE', Workspace: { UUID: ws.uuid, Label: id } };
        receives = (who) => who.workspaces.some((w) => w.uuid === ws.uuid);
      }
    }
    await publish(ch.CHANNEL_IDM, event);
    for (const s of wsSessions()) {
      if (receives(s.who!)) expect1(s, id, (f) => (f['@type'] !== 'idm' || 'Password' in ((f.User ?? {}) as object)) && violations.push(`${s.name} idm frame ${JSON.stringify(f).slice(0, 200)}`));
    }
  }

  /**
   * Coalesced node events (CREATE, UPDATE_CONTENT, UPDATE_META) find their audience when their
   * window ends: node CREATEs on both node channels, published last and waited for on each
   * instance, prove that every earlier one has been delivered.
   */
  async function flushNodes(label: string): Promise<void> {
    const ids = [await nodeEvent('CREATE', `${SENTINEL_WS.roots[0]}/tree-${label}`)];
    const id = nextId();
    await publish(ch.CHANNEL_META, { Type: 'CREATE', Target: { Uuid: id, Path: `${SENTINEL_WS.roots[0]}/meta-${label}`, Type: 'LEAF' } });
    for (const s of wsSessions()) for (const w of s.who!.workspaces) if (rootOf(w, `${SENTINEL_WS.roots[0]}/x`)) expect1(s, `${id}|${w.uuid}`);
    ids.push(id);
    for (const instance of [0, 1]) {
      const s = wsSessions().find((x) => x.instance === instance);
      for (const mark of s ? ids : []) await s!.c.next((f) => JSON.stringify(f).includes(`"${mark}"`), 10_000);
    }
  }

  /** An IDM Workspace DELETE: the frame to its holders, then the workspace leaves every session (both endpoints). */
  async function deleteWorkspace(): Promise<void> {
    await flushNodes(`before-delete-${evSeq}`);
    const id = nextId();
    const ws = rnd.pick(WORKSPACES);
    await publish(ch.CHANNEL_IDM, { Type: 'DELETE', Workspace: { UUID: ws.uuid, Label: id } });
    for (const s of wsSessions()) if (s.who!.workspaces.some((w) => w.uuid === ws.uuid)) expect1(s, id);
    for (const s of sessions) {
      if (!s.who?.workspaces.some((w) => w.uuid === ws.uuid)) continue;
      s.who = { ...s.who, workspaces: s.who.workspaces.filter((w) => w.uuid !== ws.uuid) };
      for (const room of [...s.rooms]) if (!admits(s, room)) s.rooms.delete(room);
    }
  }

  async function pushEvent(): Promise<void> {
    const id = nextId();
    const payload = { mark: id, n: rnd.int(100) };
    const targets = sessions.filter((s) => s.endpoint === 'ws');
    const filterTo = rnd.chance(0.3) ? rnd.pick(targets) : undefined;
    const filter = filterTo?.sessionId;
    const kind = rnd.pick(['user', 'room', 'session']);
    let cmd: Record<string, unknown>;
    let receives: (s: Sess) => boolean;
    let tab: string | undefined;
    if (kind === 'user') {
      const user = rnd.pick(USERS);
      cmd = { pushToUser: user, payload };
      receives = (s) => s.who?.user === user;
    } else if (kind === 'room') {
      const room = rnd.pick(pushRooms);
      cmd = { pushToRoom: room, payload };
      receives = (s) => s.rooms.has(room);
    } else {
      const to = rnd.pick(targets);
      if (!to.sessionId) return;
      // PROTOCOL 5.1: one tab of a shared session, `<sessionId>.<tab>`.
      tab = rnd.chance(0.3) ? `t${id}` : undefined;
      cmd = { [rnd.pick(['pushToSession', 'tabWindowId'])]: tab ? `${to.sessionId}.${tab}` : to.sessionId, payload };
      receives = (s) => s === to && s.who !== undefined;
    }
    if (filter !== undefined && kind !== 'session') cmd[rnd.pick(['pushToSession', 'tabWindowId'])] = filter;
    const native = rnd.chance(0.5);
    await publish(native ? ch.CHANNEL_PUSH : ch.CHANNEL_PUSH_COMPAT, cmd);
    // PROTOCOL 6: on the native channel an object payload gets its "@offset" (last key), and a room
    // push its "@room" before it, a push to a tab its "@tab" (5.1); websocket-push's is byte for byte but for "@tab".
    const asSent = (f: Frame) => {
      const { '@tab': tabTag, ...untabbed } = f;
      if (tabTag !== tab) return { ...untabbed, tabTag };
      if (!native) return untabbed;
      const { '@offset': offset, '@room': room, ...rest } = untabbed;
      const roomOk = kind === 'room' ? room === cmd.pushToRoom : room === undefined;
      return typeof offset === 'string' && roomOk ? rest : { ...rest, missingOffset: typeof offset !== 'string', room };
    };
    for (const s of wsSessions()) if (receives(s) && (filter === undefined || kind === 'session' || s.sessionId === filter)) expect1(s, id, (f) => JSON.stringify(asSent(f)) !== JSON.stringify(payload) && violations.push(`${s.name} push payload changed`));
  }

  async function chatEvent(roomUuid?: string): Promise<void> {
    const known = chatRooms.filter((r) => r.uuid);
    const uuid = roomUuid ?? (known.length ? rnd.pick(known).uuid! : undefined);
    if (!uuid) return;
    const id = nextId();
    await publish(ch.CHANNEL_CHAT, { Message: { Uuid: id, RoomUuid: uuid, Message: `text ${id}`, Author: rnd.pick(USERS), Timestamp: '1700000000' } });
    for (const s of sessions) if (s.endpoint === 'chat' && s.who && s.rooms.has(uuid)) expect1(s, id);
  }

  // -------------------------------------------------------------- checking what arrived

  /** Sorts a session's new frames into event frames (counted by key) and control frames (checked). */
  function collect(s: Sess): void {
    for (; s.checked < s.c.frames.length; s.checked++) {
      const f = s.c.frames[s.checked];
      const text = JSON.stringify(f);
      const mark = new RegExp(`ev\\d+-${tag}`).exec(text)?.[0];
      if (mark) {
        const ws = ((f.Target ?? f.Source) as { MetaStore?: Record<string, string> } | undefined)?.MetaStore?.EventWorkspaceId;
        const key = ws !== undefined && (f.Type !== undefined || f.Target !== undefined) && s.endpoint === 'ws' && !('@type' in f) ? `${mark}|${JSON.parse(ws) as string}` : mark;
        s.received.set(key, (s.received.get(key) ?? 0) + 1);
        const e = s.expected.get(key);
        if (!e) violations.push(`${s.name} (${s.who?.user ?? 'unsubscribed'}) got an unexpected frame ${text.slice(0, 300)}`);
        else e.check?.(f);
        continue;
      }
      const type = f['@type'];
      if (type === 'subscribed' || type === 'error' || (type === 'room' && s.endpoint === 'ws')) continue;
      if (s.endpoint === 'chat' && (type === 'ROOM_UPDATE' || type === 'MAY_HAVE_MORE')) {
        const room = (f.Room ?? {}) as { Uuid?: string };
        if (type === 'ROOM_UPDATE' && !s.everRooms.has(room.Uuid ?? '')) violations.push(`${s.name} got ROOM_UPDATE of a room it never joined`);
        continue;
      }
      violations.push(`${s.name} got a frame the protocol does not explain: ${text.slice(0, 300)}`);
    }
  }

  /** Every expected frame arrived, once; nothing else did. */
  function compare(s: Sess): void {
    for (const [key, e] of s.expected) {
      const got = s.received.get(key) ?? 0;
      if (got !== e.count) violations.push(`${s.name} (${JSON.stringify(s.who?.workspaces.map((w) => w.uuid)) ?? 'unsubscribed'}): ${key} arrived ${got} times, oracle ${e.count} ${JSON.stringify(published.get(key.split('|')[0]))}`);
    }
    for (const [key, got] of s.received) if (!s.expected.has(key)) violations.push(`${s.name}: ${key} arrived ${got} times, oracle 0`);
  }

  /** Barriers: a push to every /ws session, node CREATEs on both node channels, a message in a room every /chat session joins. */
  async function barrier(round: number): Promise<void> {
    const barrierRoom: ChatRoomDef = { Type: 'GLOBAL', RoomTypeObject: `barrier-${tag}-${round}` };
    chatRooms.push(barrierRoom);
    await flushNodes(`before-barrier-${round}`); // before any identity changes again
    for (const s of sessions) if (!s.who) await subscribe(s, randomWho());
    for (const s of sessions.filter((x) => x.endpoint === 'chat')) await joinChatRoom(s, barrierRoom);
    const waits: Array<[Sess, string]> = [];
    const before = new Set(sessions.flatMap((s) => [...s.expected.keys()].map((k) => `${s.name} ${k}`)));
    await flushNodes(`round-${round}`);
    for (const s of wsSessions()) {
      const pid = nextId();
      await publish(ch.CHANNEL_PUSH, { pushToSession: s.sessionId, payload: { mark: pid } });
      expect1(s, pid);
    }
    await chatEvent(barrierRoom.uuid);
    for (const s of sessions) for (const key of s.expected.keys()) if (!before.has(`${s.name} ${key}`)) waits.push([s, key]);
    for (const [s, key] of waits) {
      const [mark] = key.split('|');
      await s.c.next((f) => JSON.stringify(f).includes(`"${mark}"`) || JSON.stringify(f).includes(mark), 10_000).catch(() => violations.push(`${s.name}: barrier ${key} never arrived`));
    }
  }

  beforeAll(async () => {
    process.stdout.write(`authorization property test: PROPERTY_SEED=${SEED}\n`);
    backend = new Backend();
    const env = {
      ...ch,
      REDIS_URL,
      NODE_BATCH_WINDOW_MS: '30',
      NODE_BATCH_MAX_WAIT_MS: '60',
      PUSH_OPEN_ROOMS: 'open/*',
      SESSION_RATE: '100000',
      SESSION_BURST: '100000',
      SESSION_QUEUE_MAX: '100000',
      CLIENT_FRAME_RATE: '10000',
      CLIENT_FRAME_BURST: '10000',
      SILENT_RATE: '1000',
      CHAT_USER_JOIN_RATE: '100000',
      CHAT_MESSAGE_RATE: '100000',
      CHAT_USER_MESSAGE_RATE: '100000',
      CHAT_ROOM_CREATE_LIMIT: '100000',
      CHAT_PRESENCE_TIMEOUT_MS: '60000',
      // The oracle decides at publish time: task progress goes out at once, not merged (coalescing.e2e tests that).
      TASK_COALESCE_MS: '0',
    };
    instances = await Promise.all([startInstance(env), startInstance(env)]);
    for (const channel of channelsOf(ch)) await waitSubscribed(backend, channel, 2);
    for (let i = 0; i < 10; i++) {
      const endpoint = i < 6 ? 'ws' : 'chat';
      const who = randomWho();
      const c = await Client.subscribed(`${instances[i % 2].wsUrl}/${endpoint}`, jwtOf(who));
      const ack = c.frames.find((f) => f['@type'] === 'subscribed')!;
      sessions.push({ name: `${endpoint}${i}@${i % 2 ? 'B' : 'A'}`, instance: i % 2, endpoint, c, who, sessionId: ack.sessionId as string, rooms: new Set(), everRooms: new Set(), expected: new Map(), checked: 0, received: new Map() });
    }
  });

  afterAll(async () => {
    for (const s of sessions) s.c.close();
    await Promise.all((instances ?? []).map((i) => i.close()));
    await backend?.close();
  });

  it(`${ROUNDS} rounds of random rooms, identity changes and ${EVENTS_PER_ROUND} events: every frame as the oracle says`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      // Client side: rooms and identity changes, each answered before the next.
      for (let op = 0; op < 16; op++) {
        const s = rnd.pick(sessions);
        const r = rnd.int(10);
        if (r < 4 && s.who) {
          if (s.endpoint === 'ws') await joinPushRoom(s, rnd.pick(pushRooms));
          else if (rnd.chance(0.5)) await post(s);
          else await joinChatRoom(s, rnd.pick(chatRooms.filter((x) => !x.RoomTypeObject.startsWith('barrier-'))));
        } else if (r < 6) {
          // The same user, fewer or more rights (a token refresh).
          await subscribe(s, { ...randomWho(s.who?.user ?? rnd.pick(USERS)) });
        } else if (r < 8) {
          await subscribe(s, randomWho()); // maybe another user
        } else if (r < 9 && s.who) {
          unsubscribe(s);
        }
      }
      // The unsubscribes are applied before any event: a frame answered after them proves it.
      for (const s of sessions) await ask(s.c, { probe: true }, (f) => f['@type'] === 'error' && f.error === 'frame has no @type');

      // Bus side: events of every topic, and workspace deletions among them.
      for (let e = 0; e < EVENTS_PER_ROUND; e++) {
        const r = rnd.int(20);
        if (r < 7) await nodeEvent();
        else if (r < 9) await taskEvent();
        else if (r < 11) await activityEvent();
        else if (r < 13) await idmEvent();
        else if (r < 14) await deleteWorkspace();
        else if (r < 17) await pushEvent();
        else await chatEvent();
      }
      await barrier(round);
      for (const s of sessions) collect(s);
      for (const s of sessions) compare(s);
      expect(violations.slice(0, 20)).toEqual([]);
    }
    // The property test exercised something: frames were expected and delivered.
    const delivered = sessions.reduce((n, s) => n + [...s.received.values()].reduce((a, b) => a + b, 0), 0);
    expect(delivered).toBeGreaterThan(ROUNDS * 20);
  }, 55_000);
});
