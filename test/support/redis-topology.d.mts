/** Types of redis-topology.mjs (plain JavaScript, shared by the tests and the benches). */

/** A port nobody listens on now (the kernel's choice; released before it is used). */
export function freePort(): Promise<number>;
/** `count` free ports, all different. */
export function distinctFreePorts(count: number): Promise<number[]>;
/** Polls `probe` every 50 ms until it answers true, or throws after `timeoutMs`. */
export function until(what: string, probe: () => Promise<boolean>, timeoutMs?: number): Promise<void>;
/** One command to the server on `port`, on a short-lived connection; throws when it does not answer. */
export function redisCall(port: number, ...args: (string | number)[]): Promise<unknown>;

/** One redis-server process (any role), in a directory of its own. */
export class RedisProcess {
  private constructor();
  readonly port: number;
  /** redis-server's own pid. */
  readonly pid: number;
  static start(port: number, dir: string, args?: string[], conf?: string): Promise<RedisProcess>;
  get alive(): boolean;
  ping(): Promise<boolean>;
  call(...args: (string | number)[]): Promise<unknown>;
  info(section: string): Promise<Record<string, string>>;
  signal(signal: 'SIGSTOP' | 'SIGCONT'): void;
  killNow(): void;
  kill(): Promise<void>;
}

interface Topology {
  /** The service's environment for it (REDIS_URL, REDIS_SENTINELS..., REDIS_CLUSTER_NODES). */
  readonly env: Record<string, string>;
  /** Every redis-server of the topology. */
  readonly processes: RedisProcess[];
  stopNow(): void;
  stop(): Promise<void>;
}

/** One redis-server on a free port. */
export class SingleTopology implements Topology {
  private constructor();
  readonly node: RedisProcess;
  readonly nodes: RedisProcess[];
  static start(): Promise<SingleTopology>;
  get url(): string;
  get env(): Record<string, string>;
  get processes(): RedisProcess[];
  stopNow(): void;
  stop(): Promise<void>;
}

/** 1 master, 1 replica and 3 sentinels (quorum 2). */
export class SentinelTopology implements Topology {
  private constructor();
  static readonly NAME: string;
  readonly nodes: RedisProcess[];
  readonly sentinels: RedisProcess[];
  static start(): Promise<SentinelTopology>;
  get env(): Record<string, string>;
  get processes(): RedisProcess[];
  /** The data node the sentinels call master now. */
  master(): Promise<RedisProcess>;
  /** SIGKILLs the master and waits until the replica is promoted and takes writes. Answers the new master. */
  killMaster(): Promise<RedisProcess>;
  stopNow(): void;
  stop(): Promise<void>;
}

/** 3 masters with a replica each. */
export class ClusterTopology implements Topology {
  private constructor();
  readonly nodes: RedisProcess[];
  static start(): Promise<ClusterTopology>;
  get env(): Record<string, string>;
  get processes(): RedisProcess[];
  /** Every live node says the cluster is ok, three masters serve every slot, each live replica in sync. */
  settled(): Promise<void>;
  /** The nodes serving slots as masters now. */
  masters(): Promise<RedisProcess[]>;
  /** The node serving `slot` as master now. */
  masterOf(slot: number): Promise<RedisProcess>;
  /** SIGKILLs the master of `slot` and waits until its replica is promoted and the cluster is ok. Answers the new master. */
  killMasterOf(slot: number): Promise<RedisProcess>;
  stopNow(): void;
  stop(): Promise<void>;
  /** CLUSTER NODES, as seen by a live node. */
  table(): Promise<{ port: number; master: boolean; connected: boolean; slots: [number, number][] }[]>;
}
