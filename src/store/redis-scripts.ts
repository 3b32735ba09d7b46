// Lua run inside Redis: each script is one atomic step. Every key a script touches is passed in
// KEYS, and the keys of one call share a {hash tag}, so on a Redis Cluster they sit in one slot.
//
// Budget counters (see BudgetLedger, their in-memory twin): per counter three keys, a hash
// (`settled`, `reserved`, `l:<lease>` = amount), a sorted set of live leases by expiry, and a
// sorted set of leases that expired unsettled (so a late settle still counts, once). Times come
// from Redis's own clock, so replicas whose clocks disagree still agree on when a lease ends.

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`

// Forgets leases past the late window, and moves expired leases out of `reserved` (at most 100 a
// call: the rest go on the next one).
const EXPIRE = `
local function expire(h, z, late, lateMs)
  redis.call('ZREMRANGEBYSCORE', late, '-inf', now - lateMs)
  local gone = redis.call('ZRANGEBYSCORE', z, '-inf', now, 'LIMIT', 0, 100)
  if #gone == 0 then return end
  for _, id in ipairs(gone) do
    local amount = tonumber(redis.call('HGET', h, 'l:' .. id) or '0')
    redis.call('HDEL', h, 'l:' .. id)
    redis.call('HINCRBY', h, 'reserved', -amount)
    redis.call('ZREM', z, id)
    redis.call('ZADD', late, now, id)
  end
  local ttl = redis.call('PTTL', h)
  if ttl > 0 then redis.call('PEXPIRE', late, ttl) end
end
local function usage(h)
  local v = redis.call('HMGET', h, 'settled', 'reserved')
  return (tonumber(v[1]) or 0) + (tonumber(v[2]) or 0)
end`

/**
 * KEYS: (hash, leases, late) per counter. ARGV: lease id, lease ms, late window ms, then (amount,
 * limit, ttl ms) per counter: each counter takes its own amount (tokens, or micro-dollars).
 */
export const RESERVE = `${NOW}${EXPIRE}
local id, leaseMs, lateMs = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local n = #KEYS / 3
for i = 0, n - 1 do expire(KEYS[3 * i + 1], KEYS[3 * i + 2], KEYS[3 * i + 3], lateMs) end
local totals = {1}
if redis.call('HEXISTS', KEYS[1], 'l:' .. id) == 1 then
  for i = 0, n - 1 do totals[i + 2] = usage(KEYS[3 * i + 1]) end
  return totals
end
for i = 0, n - 1 do
  local used = usage(KEYS[3 * i + 1])
  if used + tonumber(ARGV[4 + 3 * i]) > tonumber(ARGV[5 + 3 * i]) then return {0, i, used} end
end
for i = 0, n - 1 do
  local h, z, amount, ttl = KEYS[3 * i + 1], KEYS[3 * i + 2], ARGV[4 + 3 * i], ARGV[6 + 3 * i]
  redis.call('HSET', h, 'l:' .. id, amount)
  redis.call('HINCRBY', h, 'reserved', amount)
  redis.call('ZADD', z, now + leaseMs, id)
  if redis.call('PTTL', h) < 0 then redis.call('PEXPIRE', h, ttl) end
  if redis.call('PTTL', z) < 0 then redis.call('PEXPIRE', z, ttl) end
  totals[i + 2] = usage(h)
end
return totals`

/** KEYS: (hash, leases, late) per counter. ARGV: lease id, then the actual cost per counter. Idempotent. */
export const SETTLE = `
local id = ARGV[1]
for i = 0, #KEYS / 3 - 1 do
  local h, z, late, actual = KEYS[3 * i + 1], KEYS[3 * i + 2], KEYS[3 * i + 3], tonumber(ARGV[2 + i])
  local amount = redis.call('HGET', h, 'l:' .. id)
  if amount then
    redis.call('HDEL', h, 'l:' .. id)
    redis.call('ZREM', z, id)
    redis.call('HINCRBY', h, 'reserved', -tonumber(amount))
    if actual ~= 0 then redis.call('HINCRBY', h, 'settled', actual) end
  elseif redis.call('ZREM', late, id) == 1 and actual ~= 0 then
    redis.call('HINCRBY', h, 'settled', actual)
  end
end
return 1`

/**
 * KEYS: one leases set. ARGV: lease ms, then lease ids. Only leases still live are moved: one past
 * its expiry stays expired even if no call has swept it out yet (its holder was cut off too long).
 */
export const RENEW = `${NOW}
local at = now + tonumber(ARGV[1])
for i = 2, #ARGV do
  local expiry = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if expiry and tonumber(expiry) > now then redis.call('ZADD', KEYS[1], 'XX', at, ARGV[i]) end
end
return 1`

/** KEYS: (hash) per counter. ARGV: (amount, ttl ms) per counter. */
export const CHARGE = `
for i = 1, #KEYS do
  redis.call('HINCRBY', KEYS[i], 'settled', ARGV[2 * i - 1])
  if redis.call('PTTL', KEYS[i]) < 0 then redis.call('PEXPIRE', KEYS[i], ARGV[2 * i]) end
end
return 1`

/** KEYS: (hash, leases, late) per counter. ARGV: late window ms. Returns settled, reserved per counter. */
export const READ = `${NOW}${EXPIRE}
local out = {}
for i = 0, #KEYS / 3 - 1 do
  local h = KEYS[3 * i + 1]
  expire(h, KEYS[3 * i + 2], KEYS[3 * i + 3], tonumber(ARGV[1]))
  local v = redis.call('HMGET', h, 'settled', 'reserved')
  out[2 * i + 1] = tonumber(v[1]) or 0
  out[2 * i + 2] = tonumber(v[2]) or 0
end
return out`

/** KEYS: entry [, lock]. ARGV: [lock token, lock ms]. Returns {found, value, locked}: a miss takes the lock in the same step. */
export const LOOKUP = `
local value = redis.call('GET', KEYS[1])
if value then return {1, value, 0} end
if #KEYS < 2 then return {0, '', 0} end
local taken = redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2], 'NX')
return {0, '', taken and 1 or 0}`

/** KEYS: entry [, lock]. ARGV: store? (1/0), value, ttl ms [, lock token]. The lock goes only if it is still this holder's. */
export const STORE_AND_RELEASE = `
if ARGV[1] == '1' then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
if #KEYS > 1 and redis.call('GET', KEYS[2]) == ARGV[4] then redis.call('DEL', KEYS[2]) end
return 1`

// Cache locks: compare the owner and act in one step on the server. Between a GET and a DEL (or
// PEXPIRE) the lock could expire and be taken by another replica, whose lock we would then touch.

export const DELETE_IF_EQUALS = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end"

export const EXTEND_IF_EQUALS =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end"

/** The sub-keys of a budget counter, all carrying the counter key's hash tag. */
export const counterKeys = (key: string): [string, string, string] => [key, `${key}:leases`, `${key}:late`]
