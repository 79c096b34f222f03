/**
 * The Lua scripts behind the Redis store. Each runs atomically in Redis, so every replica sees
 * a reservation either wholly applied to all its counters or not at all. Amounts travel as
 * decimal strings and are passed to INCRBY as strings: Lua numbers would print large
 * values in exponent form.
 *
 * Every key a script touches, declared or derived, carries the store's hash tag, so the scripts
 * also run on Redis Cluster (all budget keys live in one slot).
 */

/**
 * KEYS: [1] reservations zset, [2] this reservation's hash, [3] the model's cool-down key, [4..] counters
 * ARGV: [1] now ms, [2] amount, [3] reservation expiry ms, [4] request id,
 *       [5] reservation hash key prefix, then per counter: limit (-1 = none), counter ttl ms
 * Times to live are relative (PEXPIRE), so the proxy's clock and Redis' clock need not agree.
 * Returns {1} when reserved, {0, counter index (1-based), spent} when a counter would go over,
 * {2} when the model is cooling down after an upstream's retry-after (nothing is reserved).
 */
export const RESERVE_SCRIPT = `
local now = tonumber(ARGV[1])
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 32)
for _, id in ipairs(expired) do
  local rkey = ARGV[5] .. id
  local amount = redis.call('HGET', rkey, 'amount')
  if amount then
    local counters = redis.call('HGET', rkey, 'counters')
    for key in string.gmatch(counters, '[^\\n]+') do redis.call('DECRBY', key, amount) end
    redis.call('DEL', rkey)
  end
  redis.call('ZREM', KEYS[1], id)
end
if redis.call('EXISTS', KEYS[3]) == 1 then return {2} end
local amount = tonumber(ARGV[2])
local n = #KEYS - 3
for i = 1, n do
  local limit = tonumber(ARGV[4 + 2 * i])
  if limit >= 0 then
    local raw = redis.call('GET', KEYS[3 + i]) or '0'
    if tonumber(raw) + amount > limit then return {0, i, raw} end
  end
end
local names = {}
for i = 1, n do
  redis.call('INCRBY', KEYS[3 + i], ARGV[2])
  redis.call('PEXPIRE', KEYS[3 + i], ARGV[5 + 2 * i])
  names[i] = KEYS[3 + i]
end
redis.call('HSET', KEYS[2], 'amount', ARGV[2], 'counters', table.concat(names, '\\n'))
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[3]) - now + 3600000)
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
return {1}
`;

/**
 * KEYS: [1] reservations zset, [2] reservation hash, [3] settled marker, [4] usage stream,
 *       [5] the day's aggregate hash, [6..] counters
 * ARGV: [1] actual cost, [2] request id, [3] thresholds (comma separated), [4] record JSON ('' = none),
 *       [5] records kept, [6] aggregate expiry ms (relative), [7] settled marker ttl ms,
 *       [8] aggregate field count A, then A pairs (field, delta), then per counter: limit (-1 = none), counter ttl ms
 * Returns {0} when already settled, else {1, then (counter index, threshold, spent) per alert newly crossed}.
 */
export const SETTLE_SCRIPT = `
if redis.call('EXISTS', KEYS[3]) == 1 then return {0} end
local reserved = tonumber(redis.call('HGET', KEYS[2], 'amount') or '0')
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[2])
local delta = string.format('%.0f', tonumber(ARGV[1]) - reserved)
local thresholds = {}
for t in string.gmatch(ARGV[3], '[^,]+') do thresholds[#thresholds + 1] = t end
local fields = tonumber(ARGV[8])
local base = 8 + 2 * fields
local result = {1}
for i = 1, #KEYS - 5 do
  local key = KEYS[5 + i]
  local spent = redis.call('INCRBY', key, delta)
  local ttl = ARGV[base + 2 * i]
  redis.call('PEXPIRE', key, ttl)
  local limit = tonumber(ARGV[base + 2 * i - 1])
  if limit > 0 then
    for _, t in ipairs(thresholds) do
      if spent >= tonumber(t) * limit then
        if redis.call('SET', key .. ':alert:' .. t, '1', 'NX', 'PX', ttl) then
          result[#result + 1] = i
          result[#result + 1] = t
          result[#result + 1] = spent
        end
      end
    end
  end
end
redis.call('SET', KEYS[3], '1', 'PX', ARGV[7])
if ARGV[4] ~= '' then
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[5], '*', 'r', ARGV[4])
end
for f = 1, fields do
  redis.call('HINCRBY', KEYS[5], ARGV[7 + 2 * f], ARGV[8 + 2 * f])
end
if fields > 0 then redis.call('PEXPIRE', KEYS[5], ARGV[6]) end
return result
`;
