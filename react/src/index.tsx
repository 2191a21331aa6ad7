/**
 * React bindings for @switchboard/client. Every hook subscribes in an effect and unsubscribes in
 * its cleanup; rooms are reference-counted by the client and left a tick after the last release,
 * so StrictMode's mount / unmount / mount sends one JOIN and no LEAVE.
 */
import { createContext, useCallback, useContext, useEffect, useRef, useState, useSyncExternalStore, type ReactNode } from 'react';
import {
  nodeWorkspace,
  type ActivityEvent,
  type CallError,
  type CallOptions,
  type ChatRoomHandle,
  type ChatRoomSnapshot,
  type NodeEvent,
  type PushPayload,
  type RoomType,
  type Switchboard,
  type SwitchboardStatus,
  type TaskEvent,
} from '@switchboard/client';

const SwitchboardContext = createContext<Switchboard | null>(null);

/**
 * Makes a client available to the hooks. Create the client outside render (module scope, or
 * in an event handler) and `close()` it yourself when you replace it: the provider owns nothing,
 * so StrictMode's double render cannot open a second socket.
 */
export function SwitchboardProvider({ client, children }: { client: Switchboard; children?: ReactNode }) {
  return <SwitchboardContext.Provider value={client}>{children}</SwitchboardContext.Provider>;
}

export function useSwitchboard(): Switchboard {
  const client = useContext(SwitchboardContext);
  if (!client) throw new Error('useSwitchboard: no <SwitchboardProvider> above this component');
  return client;
}

/** What server-side rendering (and hydration) shows: no socket there. */
const SERVER_STATUS: SwitchboardStatus = {
  state: 'connecting',
  endpoints: { events: { state: 'connecting' }, chat: { state: 'offline', reason: 'stopped' } },
};

/**
 * `{state: 'connecting' | 'live' | 'offline', reason?, code?, detail?, retryInMs?, endpoints}`:
 * one status for `/ws` and `/chat` (the worse of the two once a room is joined), each in `endpoints`.
 * `useSwitchboard().connect()` retries at once.
 */
export function useSwitchboardStatus(): SwitchboardStatus {
  const client = useSwitchboard();
  return useSyncExternalStore(
    useCallback((changed) => client.on('status', changed), [client]),
    () => client.status,
    () => SERVER_STATUS,
  );
}

/** Calls `onReset` when events may have been missed (a reconnect that could not resume): reload then. */
export function useOnReset(onReset: (reason: string) => void): void {
  const client = useSwitchboard();
  const latest = useLatest(onReset);
  useEffect(() => client.on('reset', (reason) => latest.current(reason)), [client, latest]);
}

/** The latest node events of one workspace, newest first (at most `limit`). */
export function useNodeEvents(workspace: string, limit = 100): NodeEvent[] {
  const client = useSwitchboard();
  const [events, setEvents] = useState<NodeEvent[]>([]);
  useEffect(() => {
    setEvents([]);
    return client.on('node', (event) => {
      if (nodeWorkspace(event) === workspace) setEvents((list) => [event, ...list].slice(0, limit));
    });
  }, [client, workspace, limit]);
  return events;
}

type Task = TaskEvent['TaskUpdated'];
const taskId = (t: Task) => t.ID ?? t.JobID ?? undefined;

/** Every task seen since mount, by id, with its latest update. */
export function useTasks(): ReadonlyMap<string, Task> {
  const client = useSwitchboard();
  const [tasks, setTasks] = useState<ReadonlyMap<string, Task>>(() => new Map());
  useEffect(
    () =>
      client.on('task', ({ TaskUpdated }) => {
        const id = taskId(TaskUpdated);
        if (id !== undefined) setTasks((map) => new Map(map).set(id, TaskUpdated));
      }),
    [client],
  );
  return tasks;
}

/** The latest update of one task (`TaskUpdated.ID`, else `JobID`). */
export function useTask(id: string): Task | undefined {
  const client = useSwitchboard();
  const [task, setTask] = useState<Task>();
  useEffect(() => {
    setTask(undefined);
    return client.on('task', ({ TaskUpdated }) => {
      if (taskId(TaskUpdated) === id) setTask(TaskUpdated);
    });
  }, [client, id]);
  return task;
}

/** The latest activities of the user's inbox, newest first. */
export function useActivity(limit = 50): ActivityEvent[] {
  const client = useSwitchboard();
  const [list, setList] = useState<ActivityEvent[]>([]);
  useEffect(() => client.on('activity', (a) => setList((l) => [a, ...l].slice(0, limit))), [client, limit]);
  return list;
}

export interface PushFilter {
  /** A push room to hold while mounted (PROTOCOL 5), joined again after every reconnect. */
  room?: string;
  /** Keeps only the payloads it returns true for. */
  match?: (payload: PushPayload) => boolean;
  /** Payloads kept, newest first. Default 50. */
  limit?: number;
}

/** Push payloads (PROTOCOL 5), newest first. */
export function usePush(filter: PushFilter = {}): PushPayload[] {
  const client = useSwitchboard();
  const { room, limit = 50 } = filter;
  const match = useLatest(filter.match);
  const [list, setList] = useState<PushPayload[]>([]);
  useEffect(() => {
    if (room !== undefined) client.joinRoom(room);
    const off = client.on('push', (payload) => {
      if (!match.current || match.current(payload)) setList((l) => [payload, ...l].slice(0, limit));
    });
    return () => {
      off();
      if (room !== undefined) client.leaveRoom(room);
    };
  }, [client, room, limit, match]);
  return list;
}

export interface ChatRoomState extends ChatRoomSnapshot {
  /** Posts a message; returns its id (its state is in `posts` until it shows in `messages`). */
  post(text: string): string | undefined;
  /** Posts a refused message again. */
  retry(postId: string): void;
  /** Forgets a refused post. */
  dismiss(postId: string): void;
  /** Loads the page before the oldest message (when `mayHaveMore`). */
  more(): void;
  /** Deletes one of the user's own messages. */
  remove(messageUuid: string): void;
}

const EMPTY_ROOM: ChatRoomSnapshot = { messages: [], posts: [], users: [], mayHaveMore: false };
const noop = () => () => {};

/**
 * Joins a chat room while mounted: messages (history merged with live, in the server's order),
 * this client's posts (`pending`, `sent`, `refused` with the code), presence, the room's last
 * `error`, and post / retry / dismiss / more / remove.
 */
export function useChatRoom(room: { Type: RoomType; RoomTypeObject: string; RoomLabel?: string }): ChatRoomState {
  const client = useSwitchboard();
  const { Type, RoomTypeObject, RoomLabel } = room;
  const [handle, setHandle] = useState<ChatRoomHandle | null>(null);
  useEffect(() => {
    const joined = client.chat.join({ Type, RoomTypeObject, ...(RoomLabel ? { RoomLabel } : {}) });
    setHandle(joined);
    return () => joined.leave();
  }, [client, Type, RoomTypeObject, RoomLabel]);
  const snapshot = useSyncExternalStore(
    useCallback((changed) => (handle ? handle.on('change', changed) : noop()), [handle]),
    () => handle?.snapshot ?? EMPTY_ROOM,
    () => EMPTY_ROOM,
  );
  return {
    ...snapshot,
    post: useCallback((text: string) => handle?.post(text), [handle]),
    retry: useCallback((id: string) => void handle?.retry(id), [handle]),
    dismiss: useCallback((id: string) => handle?.dismiss(id), [handle]),
    more: useCallback(() => handle?.loadMore(), [handle]),
    remove: useCallback((uuid: string) => handle?.delete(uuid), [handle]),
  };
}

export interface CallState<T> {
  /**
   * Calls the method with `params`; resolves with the result, rejects with the `CallError`. The
   * outcome is also in `data` / `error`: a call nobody awaits raises no unhandled rejection.
   */
  call(params?: unknown, options?: CallOptions): Promise<T>;
  /** The result of the latest call, once it succeeded (kept while the next one runs). */
  data: T | undefined;
  /** Why the latest call failed (`error.code`: the wire code), kept while the next one runs. */
  error: CallError | undefined;
  /** The latest call is running. */
  loading: boolean;
  /** Back to idle; the answer of a call running now is ignored. */
  reset(): void;
}

const IDLE = { data: undefined, error: undefined, loading: false };

/**
 * Calls over the socket (PROTOCOL 9): `const whoami = useCall<Me>('whoami')`, then
 * `whoami.call(params)`. `data`, `error` and `loading` are the latest call's: an earlier call that
 * answers later never overwrites them, nor does one made for another method or client, or one
 * answering after unmount. An unmount does not cancel a call (the service would run it anyway).
 */
export function useCall<T = unknown>(method: string): CallState<T> {
  const client = useSwitchboard();
  const [state, setState] = useState<{ data: T | undefined; error: CallError | undefined; loading: boolean }>(IDLE);
  /** The latest call's number: only its answer updates the state. */
  const latest = useRef(0);
  useEffect(
    () => () => {
      latest.current++;
      setState(IDLE); // another method or client: its answers are not this one's
    },
    [client, method],
  );
  const call = useCallback(
    (params?: unknown, options?: CallOptions) => {
      const mine = ++latest.current;
      setState((s) => (s.loading ? s : { ...s, loading: true }));
      const promise = client.call<T>(method, params, options);
      promise.then(
        (data) => mine === latest.current && setState({ data, error: undefined, loading: false }),
        // The client rejects with a CallError only.
        (error: CallError) => mine === latest.current && setState({ data: undefined, error, loading: false }),
      );
      return promise;
    },
    [client, method],
  );
  const reset = useCallback(() => {
    latest.current++;
    setState(IDLE);
  }, []);
  return { ...state, call, reset };
}

/** A ref that always holds the latest value: callbacks stay current without re-subscribing. */
function useLatest<T>(value: T): { readonly current: T } {
  const [ref] = useState(() => ({ current: value }));
  ref.current = value;
  return ref;
}
