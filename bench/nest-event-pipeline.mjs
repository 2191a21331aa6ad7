// What Nest's own handler pipeline would cost per event, against the sink the bus uses
// (README, Development: why the transport's handlers are bypassed). No Redis: the server's
// handleMessage is called as its subscriber callback would call it.
// Usage: node bench/nest-event-pipeline.mjs [--n 200000] [--reps 7]
import { ServerRedis } from '@nestjs/microservices';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { n: { type: 'string', default: '200000' }, reps: { type: 'string', default: '7' } } });
const N = Number(values.n);
const REPS = Number(values.reps);
const channel = 'topic.pydio.tree.nodes.changes';
const raw = JSON.stringify({ Type: 'UPDATE_CONTENT', Target: { Uuid: 'n-1', Path: 'pydiods1/projects/a.txt', Etag: 'e', MTime: '1', Size: '10', MetaStore: { name: '"a.txt"' } } });

let seen = 0;
const server = new ServerRedis({});
server.addHandler(channel, async (data) => void (seen += data ? 1 : 0), true);
/** As Nest delivers an event: parse, deserialize, context, handler, observable. */
const viaNest = async () => {
  for (let i = 0; i < N; i++) await server.handleMessage(channel, raw, undefined, channel);
};
/** As the bus does: the raw message to one sink, which parses it. */
const sink = (c, r) => void (seen += JSON.parse(r) ? 1 : 0);
const direct = async () => {
  for (let i = 0; i < N; i++) sink(channel, raw);
};

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const time = async (fn) => {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / N;
};
await viaNest();
await direct();
const nest = [];
const bare = [];
for (let r = 0; r < REPS; r++) {
  nest.push(await time(viaNest));
  bare.push(await time(direct));
}
console.log(`| path | ns per event (median of ${REPS}, ${N} events each) | runs |`);
console.log('|---|---:|---|');
console.log(`| Nest ServerRedis.handleMessage -> @EventPattern-style handler | ${median(nest).toFixed(0)} | ${nest.map((x) => x.toFixed(0)).join(', ')} |`);
console.log(`| the bus's sink (JSON.parse of the same payload) | ${median(bare).toFixed(0)} | ${bare.map((x) => x.toFixed(0)).join(', ')} |`);
console.log(`ratio ${(median(nest) / median(bare)).toFixed(2)}x, extra ${(median(nest) - median(bare)).toFixed(0)} ns per event per instance (seen ${seen})`);
