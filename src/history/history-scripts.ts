/**
 * The history's Lua scripts. Every one touches the stream (`<key>`), its epoch
 * (`<key>:epoch`), the mark of an epoch that continues the stream of the previous one
 * (`<key>:epoch-kept`) and its lease (`<key>:lease`) only: keys of one hash slot when the key
 * carries a hash tag, as Redis Cluster requires.
 *
 * An append announces what it appended on the feed channel in the same script, so that
 * every instance delivers from that one message (one Redis hop) with the entries' ids:
 *
 *     <epoch> <previous id> <last id> <JSON array of [id, channel, payload, 1 if from pub/sub else 0]>
 *
 * `<previous id>` is the stream's newest id before this append: an instance whose last
 * delivered id is older missed something (an entry appended by a plain XADD, a lost
 * message) and reads the stream to fill the gap before it delivers this.
 */

/** Trims entries older than ARGV[n] ms by Redis' own clock, the one that numbers them. */
const TRIM_BY_AGE = (n: number) => `
local now = redis.call('TIME')
redis.call('XTRIM', KEYS[1], 'MINID', '~', string.format('%.0f-0', now[1] * 1000 + math.floor(now[2] / 1000) - tonumber(ARGV[${n}])))`;

/**
 * Appends and announces (KEYS: stream, epoch, lease, epoch-kept). ARGV: holder ('' for a direct append,
 * else the lease holder's id: refused unless it still holds the lease), max length, ttl ms,
 * feed channel, an epoch to use when there is none, PUBLISH or SPUBLISH (a cluster: the feed
 * channel is in the keys' slot), then channel/payload pairs. Returns
 * false when refused, else {epoch, previous id, last id, 1 when a new epoch began}.
 *
 * When the stream's ids have run out (someone appended `18446744073709551615-18446744073709551615`)
 * the history starts again under a new epoch: nothing else could ever be appended.
 */
const APPEND = `
local holder = ARGV[1]
if holder ~= '' and redis.call('GET', KEYS[3]) ~= holder then return false end
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[5]
  redis.call('SET', KEYS[2], epoch)
  redis.call('DEL', KEYS[4])
end
local function append()
  local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
  local prev = top[1] and top[1][1] or '0-0'
  local out = {}
  local last = prev
  for i = 7, #ARGV, 2 do
    local id
    if holder ~= '' then
      id = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'c', ARGV[i], 'd', ARGV[i + 1], 'p', '1')
    else
      id = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'c', ARGV[i], 'd', ARGV[i + 1])
    end
    if type(id) == 'table' then
      if string.find(id.err, 'exhausted') then return nil end
      error(id.err)
    end
    out[#out + 1] = {id, ARGV[i], ARGV[i + 1], holder ~= '' and 1 or 0}
    last = id
  end
  return prev, last, out
end
local prev, last, out = append()
local rotated = 0
if not prev then
  rotated = 1
  redis.call('DEL', KEYS[1], KEYS[4])
  epoch = ARGV[5]
  redis.call('SET', KEYS[2], epoch)
  prev, last, out = append()
end
${TRIM_BY_AGE(3)}
redis.call(ARGV[6], ARGV[4], epoch .. ' ' .. prev .. ' ' .. last .. ' ' .. cjson.encode(out))
return {epoch, prev, last, rotated}`;

/**
 * The lease upkeep in one round trip (KEYS: epoch, lease, stream; ARGV: me, lease ms, want).
 * `want` '1': take the lease when free, or keep it when ours; '0': let it go when ours.
 * Returns the epoch (false when missing), 1 when the lease is ours, and the stream's newest
 * id (false when empty): an instance that has not delivered up to it in a while reads the gap.
 */
const LEASE_TICK = `
local holder = redis.call('GET', KEYS[2])
local held = 0
if ARGV[3] == '1' then
  if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[2], ARGV[2]) held = 1
  elseif not holder then redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2]) held = 1 end
elseif holder == ARGV[1] then redis.call('DEL', KEYS[2]) end
local top = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
return {redis.call('GET', KEYS[1]), held, top[1] and top[1][1] or false}`;

/** Lets the lease go when ours (KEYS: lease). */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end`;

/**
 * The epoch, created when missing (KEYS: epoch, epoch-kept): a new history. Returns the epoch
 * and 1 when it continues the stream of the epoch before it (`NEW_EPOCH` with keep).
 */
const EPOCH = `
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
  redis.call('DEL', KEYS[2])
end
return {epoch, redis.call('GET', KEYS[2]) == epoch and 1 or 0}`;

/**
 * Replaces the epoch when it is still ARGV[1] (KEYS: epoch, epoch-kept); ARGV[3] '1': the new
 * epoch keeps the stream (entries were lost: old offsets must not be trusted, but what is in the
 * stream was delivered), '0': the stream is a new one. Returns the epoch now.
 */
const NEW_EPOCH = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  if ARGV[3] == '1' then redis.call('SET', KEYS[2], ARGV[2]) else redis.call('DEL', KEYS[2]) end
end
return redis.call('GET', KEYS[1])`;

/**
 * The scripts, as commands of the connection (ioredis' defineCommand): each is sent once
 * per connection (EVAL), then by its SHA1 (EVALSHA, EVAL again after a NOSCRIPT): Redis
 * neither receives nor hashes the script text on every append.
 */
export const HISTORY_SCRIPTS = {
  historyAppend: { numberOfKeys: 4, lua: APPEND },
  leaseTick: { numberOfKeys: 3, lua: LEASE_TICK },
  releaseLease: { numberOfKeys: 1, lua: RELEASE },
  historyEpoch: { numberOfKeys: 2, lua: EPOCH },
  historyNewEpoch: { numberOfKeys: 2, lua: NEW_EPOCH },
} as const;
