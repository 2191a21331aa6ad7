import { useCallback, useEffect, useRef, useState } from 'react';
import { Switchboard, describeStatus, shareTabs } from '@switchboard/client';
import {
  SwitchboardProvider,
  useSwitchboard,
  useActivity,
  useChatRoom,
  useNodeEvents,
  useOnReset,
  usePush,
  useSwitchboardStatus,
  useTasks,
} from '@switchboard/react';

/** What `GET /demo/api/session` answers (DEMO_MODE only). */
interface DemoSession {
  user: string;
  token: string;
  apiKey: string | null;
  channels: Record<string, string>;
  users: string[];
  workspaces: Array<{ uuid: string; slug: string; label: string; roots: Array<{ path: string }> }>;
}

const params = new URLSearchParams(location.search);
const fetchSession = async (user: string): Promise<DemoSession> => {
  const res = await fetch(`/demo/api/session?user=${encodeURIComponent(user)}`);
  if (!res.ok) throw new Error(res.status === 404 || res.status === 400 ? `there is no demo user "${user}"` : `demo session: HTTP ${res.status}`);
  return res.json();
};

declare global {
  interface Window {
    /** For the browser tests: the live client, and the class (to make more). */
    __switchboard?: Switchboard;
    __Switchboard?: typeof Switchboard;
    __shareTabs?: typeof shareTabs;
  }
}
window.__Switchboard = Switchboard;
window.__shareTabs = shareTabs;

export function App() {
  const [session, setSession] = useState<DemoSession>();
  const [client, setClient] = useState<Switchboard>();
  const [problem, setProblem] = useState<string>();
  const current = useRef<{ user: string; client?: Switchboard } | undefined>(undefined);

  const pick = useCallback(async (user: string) => {
    if (current.current?.user === user) return; // StrictMode runs the auto-pick effect twice
    current.current?.client?.close();
    current.current = { user };
    let first: DemoSession;
    try {
      first = await fetchSession(user);
    } catch (err) {
      if (current.current.user !== user) return;
      current.current = undefined;
      setProblem(err instanceof TypeError ? 'the demo service cannot be reached' : (err as Error).message);
      return;
    }
    if (current.current.user !== user) return;
    setProblem(undefined);
    const fast = params.has('fast');
    const next = new Switchboard({
      // Called on every connect and renewal: each call gets a fresh short-lived token.
      token: async () => (await fetchSession(user)).token,
      backoff: fast ? { initialMs: 200, maxMs: 1000 } : undefined,
      // `?share`: one connection for every tab of this user in this browser.
      share: params.has('share') ? shareTabs() : undefined,
    });
    current.current.client = next;
    window.__switchboard = next;
    setSession(first);
    setClient(next);
  }, []);

  useEffect(() => {
    // Counts effect runs: 2 in a development build under StrictMode (the browser test checks it).
    (window as unknown as { __appEffects?: number }).__appEffects = ((window as unknown as { __appEffects?: number }).__appEffects ?? 0) + 1;
  }, []);

  useEffect(() => {
    const user = params.get('user');
    if (user) void pick(user);
  }, [pick]);

  return (
    <div className="page">
      <style>{css}</style>
      <header>
        <h1>Switchboard demo</h1>
        <nav aria-label="demo user">
          {(session?.users ?? ['alice', 'bob', 'carol']).map((u) => (
            <button key={u} className={u === session?.user ? 'on' : ''} onClick={() => void pick(u)} data-testid={`pick-${u}`}>
              {u}
            </button>
          ))}
        </nav>
        {client && (
          <SwitchboardProvider client={client}>
            <StatusBadge />
          </SwitchboardProvider>
        )}
      </header>
      {problem && (
        <p className="error" role="alert" data-testid="problem">
          {problem}: pick one above.
        </p>
      )}
      {client && session ? (
        <SwitchboardProvider client={client}>
          <Dashboard session={session} />
        </SwitchboardProvider>
      ) : (
        !problem && <p className="hint">Pick a demo user.</p>
      )}
    </div>
  );
}

function StatusBadge() {
  const client = useSwitchboard();
  const status = useSwitchboardStatus();
  const [resets, setResets] = useState(0);
  useOnReset(() => setResets((n) => n + 1));
  return (
    <span className="status-bar">
      <span className={`status ${status.state}`} data-testid="status" data-resets={resets} role="status">
        {describeStatus(status)}
        {status.shared && ` · ${status.shared.leader ? 'holds the connection' : 'shares the connection'} of ${status.shared.tabs} tab${status.shared.tabs === 1 ? '' : 's'}`} · resets: <b data-testid="resets">{resets}</b>
      </span>
      {status.state === 'offline' && (
        <button onClick={() => client.connect()} data-testid="retry-now">
          retry now
        </button>
      )}
    </span>
  );
}

function Dashboard({ session }: { session: DemoSession }) {
  return (
    <main>
      <section className="events">
        <h2>Node events</h2>
        <div className="cols">
          {session.workspaces.map((w) => (
            <NodeList key={w.uuid} workspace={w.uuid} label={w.label} />
          ))}
        </div>
      </section>
      <section>
        <h2>Tasks</h2>
        <Tasks />
      </section>
      <section>
        <h2>Activity</h2>
        <Activity />
      </section>
      <section className="chat">
        <ChatPanel user={session.user} />
      </section>
      <section>
        <h2>Push</h2>
        <Push />
        <UserRoom user={session.user} />
      </section>
      <section>
        <h2>Publish (POST /api/publish)</h2>
        <Publish session={session} />
      </section>
    </main>
  );
}

function NodeList({ workspace, label }: { workspace: string; label: string }) {
  const events = useNodeEvents(workspace, 20);
  return (
    <div data-testid={`nodes-${workspace}`}>
      <h3>{label}</h3>
      <ul className="list">
        {events.map((e, i) => {
          const node = e.Target ?? e.Source;
          return (
            <li key={`${node?.Uuid}-${events.length - i}`} data-testid="node-event">
              <code>{e.Type ?? 'CREATE'}</code> {node?.Path}
            </li>
          );
        })}
        {events.length === 0 && <li className="hint">nothing yet</li>}
      </ul>
    </div>
  );
}

function Tasks() {
  const tasks = useTasks();
  if (tasks.size === 0) return <p className="hint">no task</p>;
  return (
    <ul className="list">
      {[...tasks].map(([id, t]) => (
        <li key={id} data-testid={`task-${id}`}>
          {id} · {t.Status}
          <progress max={1} value={t.Progress ?? 0} />
        </li>
      ))}
    </ul>
  );
}

function Activity() {
  const items = useActivity(20);
  if (items.length === 0) return <p className="hint">no activity</p>;
  return (
    <ul className="list">
      {items.map((a, i) => (
        <li key={items.length - i} data-testid="activity-item">
          <b>{a.Activity.actor?.name ?? a.Activity.actor?.id}</b> {a.Activity.type?.toLowerCase()} {a.Activity.object?.name}
        </li>
      ))}
    </ul>
  );
}

const ROOMS = ['lobby', 'random'];

/** Switching rooms mounts a new Chat (StrictMode mounts it twice: one JOIN must go out, no LEAVE). */
function ChatPanel({ user }: { user: string }) {
  const [room, setRoom] = useState(ROOMS[0]);
  return (
    <>
      <h2>
        Chat:{' '}
        {ROOMS.map((r) => (
          <button key={r} className={r === room ? 'on' : ''} onClick={() => setRoom(r)} data-testid={`room-${r}`}>
            {r}
          </button>
        ))}
      </h2>
      <Chat key={room} room={room} user={user} />
    </>
  );
}

function Chat({ room: name, user }: { room: string; user: string }) {
  const room = useChatRoom({ Type: 'GLOBAL', RoomTypeObject: name });
  const [text, setText] = useState('');
  const list = useRef<HTMLUListElement>(null);
  const send = () => {
    if (text.trim()) room.post(text.trim());
    setText('');
  };
  const shown = room.messages.length + room.posts.length;
  useEffect(() => {
    // Follow the conversation: the newest message (or post) stays in view.
    const el = list.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [shown]);
  return (
    <>
      <p data-testid="presence">
        here:{' '}
        {room.users.map((u) => (
          <span key={u} className="user">
            {u}
          </span>
        ))}
      </p>
      {room.error && (
        <p className="error" role="alert" data-testid="room-error">
          {room.error.error} ({room.error.code})
        </p>
      )}
      {room.mayHaveMore && <button onClick={room.more}>older messages</button>}
      <div role="log" aria-live="polite" aria-label={`messages in ${name}`}>
      <ul className="list messages" ref={list}>
        {room.messages.map((m) => (
          <li key={m.Uuid} data-testid="chat-message">
            <b>{m.Author}</b>: {m.Message}
            {m.Author === user && (
              <button className="x" aria-label={`delete your message: ${m.Message.slice(0, 40)}`} title="delete" onClick={() => room.remove(m.Uuid)}>
                ×
              </button>
            )}
          </li>
        ))}
        {room.posts.map((p) => (
          <li key={p.id} data-testid="chat-post" data-state={p.state} data-code={p.code} className={`post ${p.state}`}>
            <b>{user}</b>: {p.text}{' '}
            {p.state === 'refused' ? (
              <span className="error">
                not sent: {p.error} ({p.code}){' '}
                <button onClick={() => room.retry(p.id)}>retry</button>
                <button onClick={() => room.dismiss(p.id)}>dismiss</button>
              </span>
            ) : (
              <span className="hint">({p.state === 'pending' ? 'sending…' : 'sent'})</span>
            )}
          </li>
        ))}
        {shown === 0 && <li className="hint">no message yet: say hello</li>}
      </ul>
      </div>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          send();
        }}
      >
        <label htmlFor={`chat-input-${name}`} className="visually-hidden">
          Message to {name}
        </label>
        <input id={`chat-input-${name}`} value={text} onChange={(e) => setText(e.target.value)} placeholder="say something" data-testid="chat-input" />
        <button type="submit" data-testid="chat-send">
          send
        </button>
      </form>
    </>
  );
}

/** A push payload as sent: without the `@offset` the service adds for resume. */
function withoutOffset(payload: unknown): unknown {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return payload;
  const { '@offset': _offset, ...rest } = payload as Record<string, unknown>;
  return rest;
}

function Push() {
  const items = usePush({ limit: 5 });
  if (items.length === 0) return <p className="hint">no push yet</p>;
  return (
    <ul className="list">
      {items.map((p, i) => (
        <li key={items.length - i} data-testid="push-item">
          <code>{JSON.stringify(withoutOffset(p))}</code>
        </li>
      ))}
    </ul>
  );
}

/** A push room held while shown (the backend can `pushToRoom` there); mounted after the socket is live. */
function UserRoom({ user }: { user: string }) {
  const [on, setOn] = useState(false);
  return (
    <p>
      <label>
        <input type="checkbox" checked={on} onChange={(e) => setOn(e.target.checked)} data-testid="user-room" /> watch room user:{user}
      </label>
      {on && <RoomFeed room={`user:${user}`} />}
    </p>
  );
}

function RoomFeed({ room }: { room: string }) {
  const items = usePush({ room, match: (p) => typeof p === 'object' && p !== null && (p as { room?: string }).room === room });
  return <span data-testid="room-feed"> · {items.length} message(s) for the room</span>;
}

let counter = 0;
function Publish({ session }: { session: DemoSession }) {
  const [progress, setProgress] = useState(0);
  const [error, setError] = useState<string>();
  const apiKey = useRef(session.apiKey);
  const post = (channel: string, data: unknown) =>
    fetch('/api/publish', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey.current}` },
      body: JSON.stringify({ channel, data }),
    });
  const publish = async (channel: string, data: unknown) => {
    try {
      let res = await post(channel, data);
      if (res.status === 401) {
        // The demo service restarted with a new key: ask for it, then try once more.
        apiKey.current = (await fetchSession(session.user)).apiKey;
        res = await post(channel, data);
      }
      setError(res.ok ? undefined : `not published: HTTP ${res.status} ${await res.text()}`);
    } catch (err) {
      setError(err instanceof TypeError ? 'not published: the service cannot be reached' : `not published: ${(err as Error).message}`);
    }
  };
  const file = (slug: string) => {
    const n = ++counter;
    void publish(session.channels.tree, { Type: 'CREATE', Target: { Uuid: `demo-${Date.now()}-${n}`, Path: `demo/${slug}/file-${n}.txt`, Type: 'LEAF', Size: String(n * 1024) } });
  };
  const task = () => {
    const next = Math.min(1, progress + 0.25);
    setProgress(next === 1 ? 0 : next);
    void publish(session.channels.tasks, { TaskUpdated: { ID: `compress-${session.user}`, TriggerOwner: session.user, Status: next === 1 ? 'Finished' : 'Running', Progress: next }, Job: { ID: 'compress', Label: 'Compress' } });
  };
  const notify = (to: string) =>
    void publish(session.channels.activity, { OwnerType: 'USER', OwnerId: to, BoxName: 'inbox', Activity: { type: 'Update', actor: { id: session.user, name: session.user }, object: { type: 'Document', name: 'demo/common/report.pdf' } } });
  return (
    <div className="buttons">
      <button onClick={() => file('projects')}>file in projects</button>
      <button onClick={() => file('common')}>file in common</button>
      <button onClick={task}>advance my task</button>
      {session.users
        .filter((u) => u !== session.user)
        .map((u) => (
          <button key={u} onClick={() => notify(u)}>
            notify {u}
          </button>
        ))}
      <button onClick={() => void publish(session.channels.push, { pushToUser: session.user, payload: { hello: session.user, at: new Date().toISOString() } })}>push to me</button>
      {error && (
        <p className="error" role="alert" data-testid="publish-error">
          {error}
        </p>
      )}
    </div>
  );
}

const css = `
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; background: #f4f5f7; color: #1d2330; }
.page { max-width: 1200px; margin: 0 auto; padding: 12px 16px; box-sizing: border-box; }
header { display: flex; align-items: center; gap: 8px 16px; flex-wrap: wrap; }
header h1 { font-size: 20px; margin: 8px 0; }
button.on { background: #1f56b8; color: white; }
button { border: 1px solid #6b7280; background: white; color: #1d2330; border-radius: 4px; padding: 4px 10px; cursor: pointer; margin: 2px; font: inherit; }
.status-bar { margin-left: auto; display: flex; align-items: center; gap: 4px; flex-wrap: wrap; }
.status { padding: 3px 10px; border-radius: 10px; background: #ddd; }
.status.live { background: #c9f2d4; } .status.connecting { background: #fff1b8; } .status.offline { background: #ffd1d1; }
main { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 12px; }
section { background: white; border-radius: 6px; padding: 8px 12px; box-shadow: 0 1px 2px #0002; min-height: 120px; min-width: 0; }
section.events { grid-column: span 2; } section.chat { grid-row: span 2; }
h2 { font-size: 15px; margin: 4px 0 8px; } h3 { font-size: 13px; margin: 0 0 4px; color: #4a4f59; }
.cols { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 8px; }
.list { list-style: none; padding: 0; margin: 0; max-height: 220px; overflow: auto; overflow-wrap: anywhere; }
.list li { padding: 3px 0; border-bottom: 1px solid #eee; }
progress { width: 100%; }
.messages { max-height: 300px; }
.user { background: #e4ecfb; border-radius: 8px; padding: 1px 8px; margin-right: 4px; }
.hint { color: #595f6b; } .error { color: #a4000f; }
.post.pending, .post.sent { color: #4a4f59; }
.x { border: none; color: #4a4f59; padding: 0 6px; }
form { display: flex; gap: 4px; margin-top: 6px; } form input { flex: 1; min-width: 0; padding: 4px; font: inherit; }
code { overflow-wrap: anywhere; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
@media (max-width: 900px) { main { grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); } section.chat { grid-row: auto; } }
@media (max-width: 600px) { main, .cols { grid-template-columns: minmax(0, 1fr); } section.events { grid-column: auto; } .page { padding: 8px; } }
`;
