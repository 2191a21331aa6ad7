import { useCallback, useEffect, useRef, useState } from 'react';
import { Switchboard } from '@switchboard/client';
import {
  SwitchboardProvider,
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
  if (!res.ok) throw new Error(`demo session: ${res.status}`);
  return res.json();
};

declare global {
  interface Window {
    /** For the browser tests: the live client. */
    __switchboard?: Switchboard;
  }
}

export function App() {
  const [session, setSession] = useState<DemoSession>();
  const [client, setClient] = useState<Switchboard>();
  const current = useRef<{ user: string; client?: Switchboard } | undefined>(undefined);

  const pick = useCallback(async (user: string) => {
    if (current.current?.user === user) return; // StrictMode runs the auto-pick effect twice
    current.current?.client?.close();
    current.current = { user };
    const first = await fetchSession(user);
    if (current.current.user !== user) return;
    const fast = params.has('fast');
    const next = new Switchboard({
      // Called on every connect and renewal: each call gets a fresh short-lived token.
      token: async () => (await fetchSession(user)).token,
      backoff: fast ? { initialMs: 200, maxMs: 1000 } : undefined,
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
        <nav>
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
      {client && session ? (
        <SwitchboardProvider client={client}>
          <Dashboard session={session} />
        </SwitchboardProvider>
      ) : (
        <p className="hint">Pick a demo user.</p>
      )}
    </div>
  );
}

function StatusBadge() {
  const status = useSwitchboardStatus();
  const [resets, setResets] = useState(0);
  useOnReset(() => setResets((n) => n + 1));
  return (
    <span className={`status ${status.state}`} data-testid="status" data-resets={resets}>
      {status.state}
      {status.reason && status.state !== 'live' ? ` (${status.reason})` : ''} · resets: <b data-testid="resets">{resets}</b>
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
        <h2>Publish (POST /api/publish)</h2>
        <Publish session={session} />
        <Push />
        <UserRoom user={session.user} />
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
  const send = () => {
    if (text.trim()) room.post(text.trim());
    setText('');
  };
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
      {room.mayHaveMore && <button onClick={room.more}>older messages</button>}
      <ul className="list messages">
        {room.messages.map((m) => (
          <li key={m.Uuid} data-testid="chat-message">
            <b>{m.Author}</b>: {m.Message}
            {m.Author === user && (
              <button className="x" title="delete" onClick={() => room.remove(m.Uuid)}>
                ×
              </button>
            )}
          </li>
        ))}
      </ul>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          send();
        }}
      >
        <input value={text} onChange={(e) => setText(e.target.value)} placeholder="say something" data-testid="chat-input" />
        <button type="submit" data-testid="chat-send">
          send
        </button>
      </form>
    </>
  );
}

function Push() {
  const items = usePush({ limit: 5 });
  return (
    <ul className="list">
      {items.map((p, i) => (
        <li key={items.length - i} data-testid="push-item">
          push: <code>{JSON.stringify(p)}</code>
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
  const publish = async (channel: string, data: unknown) => {
    const res = await fetch('/api/publish', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${session.apiKey}` },
      body: JSON.stringify({ channel, data }),
    });
    setError(res.ok ? undefined : `${res.status} ${await res.text()}`);
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
      {error && <p className="error">{error}</p>}
    </div>
  );
}

const css = `
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; background: #f4f5f7; color: #1d2330; }
.page { max-width: 1200px; margin: 0 auto; padding: 12px 20px; }
header { display: flex; align-items: center; gap: 16px; }
header h1 { font-size: 20px; margin: 8px 0; }
button.on { background: #2d6cdf; color: white; }
button { border: 1px solid #c5cad3; background: white; border-radius: 4px; padding: 4px 10px; cursor: pointer; margin: 2px; }
.status { padding: 3px 10px; border-radius: 10px; background: #ddd; margin-left: auto; }
.status.live { background: #c9f2d4; } .status.connecting { background: #fff1b8; } .status.offline { background: #ffd1d1; }
main { display: grid; grid-template-columns: repeat(3, 1fr); gap: 12px; }
section { background: white; border-radius: 6px; padding: 8px 12px; box-shadow: 0 1px 2px #0002; min-height: 120px; }
section.events { grid-column: span 2; } section.chat { grid-row: span 2; }
h2 { font-size: 15px; margin: 4px 0 8px; } h3 { font-size: 13px; margin: 0 0 4px; color: #555; }
.cols { display: grid; grid-template-columns: 1fr 1fr; gap: 8px; }
.list { list-style: none; padding: 0; margin: 0; max-height: 220px; overflow: auto; }
.list li { padding: 3px 0; border-bottom: 1px solid #eee; }
progress { width: 100%; }
.messages { max-height: 300px; }
.user { background: #e4ecfb; border-radius: 8px; padding: 1px 8px; margin-right: 4px; }
.hint { color: #888; } .error { color: #b00; }
.x { border: none; color: #999; padding: 0 4px; }
form { display: flex; gap: 4px; margin-top: 6px; } form input { flex: 1; padding: 4px; }
`;
