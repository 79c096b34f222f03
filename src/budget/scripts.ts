/**
 * The Lua scripts behind the Redis store. Each runs atomically in Redis, so every replica sees
 * a reservation either wholly applied to all its counters or not at all. Amounts travel as
 * decimal strings and go to INCRBY as strings: Lua numbers would print large values in exponent
 * form, so sums computed in Lua are printed with %.0f.
 *
 * Each script takes a batch of requests (the calls one replica made in one turn of its event
 * loop) and treats them one after another, in order, as separate calls would be treated; what the
 * batch shares is done once: the script call, each counter's INCRBY and PEXPIRE and each day's
 * HINCRBY per field, with the sum of what the batch's requests added. Redis spends most of a small
 * script's time on these shared steps and on entering Lua, so this divides its cost per request.
 * A request travels as one space-separated argument (its id last), and the key of its own
 * settled marker is derived from its id.
 *
 * Every key a script touches, declared or derived, carries the store's hash tag, so the scripts
 * also run on Redis Cluster (all budget keys live in one slot).
 */

/**
 * KEYS: [1] holds zset (lease end per request id), [2] holds hash (request id -> "amount meta"),
 *       [3..C+2] the batch's counters, [C+3..C+M+2] the cool-down keys of its models
 * ARGV: [1] C, [2] M, [3] L counter lists, [4] N requests, then per counter: limit (-1 = none),
 *       counter ttl ms; then the L lists of counter indexes ("1,2,3"); then per request
 *       "amount lease-end-ms list-index cool-down-index request-id" (cool-down index 0: none) and its meta
 * A hold lives in the hash and the zset together and leaves both in the same step (settle), so
 * neither can outlive the other: no time to live of its own can drop an amount still counted.
 * Times to live are relative (PEXPIRE), so the proxy's clock and Redis' clock need not agree.
 * Returns per request {1} when reserved, {0, counter (1-based, in the request's list), spent, room}
 * when a counter would go over (room: the least any limited counter of the request had left), {2}
 * when the model is cooling down after an upstream's retry-after (nothing is reserved).
 */
export const RESERVE_SCRIPT = `
local C = tonumber(ARGV[1])
local M = tonumber(ARGV[2])
local L = tonumber(ARGV[3])
local N = tonumber(ARGV[4])
local limit, spent, added, cooling, results = {}, {}, {}, {}, {}
for c = 1, C do limit[c] = tonumber(ARGV[3 + 2 * c]) end
local lists = {}
for l = 1, L do
  local list = {}
  for i in string.gmatch(ARGV[4 + 2 * C + l], '%d+') do list[#list + 1] = tonumber(i) end
  lists[l] = list
end
local base = 4 + 2 * C + L
for r = 1, N do
  local amount, expiry, l, m, id = string.match(ARGV[base + 2 * r - 1], '^(%S+) (%S+) (%S+) (%S+) (.*)$')
  m = tonumber(m)
  if m > 0 and cooling[m] == nil then cooling[m] = redis.call('EXISTS', KEYS[2 + C + m]) == 1 end
  if m > 0 and cooling[m] then
    results[r] = {2}
  else
    local value = tonumber(amount)
    local list = lists[tonumber(l)]
    local over, room = 0, nil
    for j, c in ipairs(list) do
      if limit[c] >= 0 then
        if spent[c] == nil then spent[c] = tonumber(redis.call('GET', KEYS[2 + c]) or '0') end
        local left = limit[c] - spent[c]
        if room == nil or left < room then room = left end
        if over == 0 and spent[c] + value > limit[c] then over = j end
      end
    end
    if over > 0 then
      if room < 0 then room = 0 end
      results[r] = {0, over, string.format('%.0f', spent[list[over]]), string.format('%.0f', room)}
    else
      for _, c in ipairs(list) do
        if spent[c] ~= nil then spent[c] = spent[c] + value end
        added[c] = (added[c] or 0) + value
      end
      redis.call('HSET', KEYS[2], id, amount .. ' ' .. ARGV[base + 2 * r])
      redis.call('ZADD', KEYS[1], expiry, id)
      results[r] = {1}
    end
  end
end
for c = 1, C do
  if added[c] ~= nil then
    redis.call('INCRBY', KEYS[2 + c], string.format('%.0f', added[c]))
    redis.call('PEXPIRE', KEYS[2 + c], ARGV[4 + 2 * c])
  end
end
return results
`;

/**
 * KEYS: [1] holds zset, [2] holds hash, [3] usage stream, [4..C+3] the batch's counters,
 *       [C+4..C+D+3] the aggregate hash of each of the batch's days, [C+D+4] (optional) the ledger
 *       queue: a stream every record is also added to, never trimmed, whose entries the ledger
 *       writer deletes once PostgreSQL has them (src/ledger)
 * ARGV: [1] alert thresholds (comma separated), [2] records kept, [3] aggregate ttl ms, [4] settled markers'
 *       "bucket-ms buckets", [5] key prefix of settled markers, [6] C, [7] D, [8] L counter lists, [9] N requests,
 *       then per counter: limit (-1 = none), counter ttl ms;
 *       then the L lists of counter indexes ("1,2,3"); then per day: F, then F pairs (field, the sum of
 *       the batch's deltas for it); then per request "actual-cost list-index lease-id since request-id"
 *       and its record JSON ('' = none)
 * A request held on a replica's lease (lease-id not "-", see LEASE_SCRIPT) has no hold of its own:
 * its cost moves out of the lease instead (the lease shrinks by it, at most to 0), so the counters
 * change only by what the lease did not cover.
 * The aggregates arrive summed over the batch, so they are only right if every request of the batch
 * is settled now: when one was settled before (a retried settle), nothing is done and the script
 * returns {0, its index, ...}, for the caller to send the batch again without it.
 * Alerts are checked against each counter's value right after each request, as if the requests
 * had been settled one by one; only for the counters the batch could bring to the lowest threshold
 * (their value before it plus its costs), and each (counter, threshold) tried once per batch: an
 * alert key set or found set stays set for the rest of the batch.
 * Settled markers (settle is idempotent by request id) are kept in bounded memory: not a key per
 * request, but sets per time bucket (Redis' own clock, `bucket-ms` long) and shard (the first 4
 * hex digits of the id's SHA-1: 65,536 sets per bucket, so each stays small and Redis keeps it as
 * an intset), whose members are the next 52 bits of that SHA-1 as an integer: 8 bytes per request
 * and a set's overhead shared by its members. A bucket's sets expire whole, `buckets - 1` buckets
 * after it ends; an id is looked for in the last `buckets` buckets, so it is remembered at least
 * (buckets - 1) × bucket-ms. Two ids that share 68 bits of SHA-1 in one bucket would count as one.
 * `since` (0: none) is the first bucket an earlier settle of the request could have marked: a
 * request settled for the first time under its replica's lease was held moments before, so its id
 * is looked for from the bucket before its hold's, not over the whole day (two lookups, not seven),
 * and always in the current bucket, whatever the replica's clock says.
 * Returns {1, results}: per request {1, then (counter (1-based, in the request's list), threshold,
 * spent) per alert newly crossed}.
 */
export const SETTLE_SCRIPT = `
local C = tonumber(ARGV[6])
local D = tonumber(ARGV[7])
local L = tonumber(ARGV[8])
local N = tonumber(ARGV[9])
local a = 9 + 2 * C + L
for d = 1, D do a = a + 1 + 2 * tonumber(ARGV[a + 1]) end
local base = a
local ledger = KEYS[C + D + 4]
local requests, marked, settled = {}, {}, {0}
local bucketMs, buckets = string.match(ARGV[4], '^(%d+) (%d+)$')
bucketMs, buckets = tonumber(bucketMs), tonumber(buckets)
local time = redis.call('TIME')
local nowMs = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local bucket = math.floor(nowMs / bucketMs)
local markerTtl = (bucket + buckets) * bucketMs - nowMs
for r = 1, N do
  local actual, l, lease, since, id = string.match(ARGV[base + 2 * r - 1], '^(%S+) (%S+) (%S+) (%S+) (.*)$')
  requests[r] = {tonumber(actual), tonumber(l), id, lease}
  local sha = redis.sha1hex(id)
  local shard, member = string.sub(sha, 1, 4), string.format('%.0f', tonumber(string.sub(sha, 5, 17), 16))
  local seen = false
  for b = math.max(bucket - buckets + 1, math.min(tonumber(since), bucket)), bucket do
    if redis.call('SISMEMBER', ARGV[5] .. b .. ':' .. shard, member) == 1 then
      seen = true
      break
    end
  end
  if seen then
    settled[#settled + 1] = r
  else
    local key = ARGV[5] .. bucket .. ':' .. shard
    redis.call('SADD', key, member)
    redis.call('PEXPIRE', key, markerTtl)
    marked[#marked + 1] = {key, member}
  end
end
if #settled > 1 then
  for _, m in ipairs(marked) do redis.call('SREM', m[1], m[2]) end
  return settled
end
local thresholds = {}
for t in string.gmatch(ARGV[1], '[^,]+') do thresholds[#thresholds + 1] = {t, tonumber(t)} end
local lists = {}
for l = 1, L do
  local list = {}
  for i in string.gmatch(ARGV[9 + 2 * C + l], '%d+') do list[#list + 1] = tonumber(i) end
  lists[l] = list
end
a = 9 + 2 * C + L + 1
for d = 1, D do
  local hash = KEYS[C + 3 + d]
  local fields = tonumber(ARGV[a])
  for i = 1, fields do redis.call('HINCRBY', hash, ARGV[a + 2 * i - 1], ARGV[a + 2 * i]) end
  if fields > 0 then redis.call('PEXPIRE', hash, ARGV[3]) end
  a = a + 1 + 2 * fields
end
local results, sum, rise = {}, {}, {}
for r = 1, N do
  local request = requests[r]
  local reserved = 0
  if request[4] ~= '-' then
    local lease = redis.call('HGET', KEYS[2], request[4])
    if lease then
      local amount, meta = string.match(lease, '^(%S+) (.*)$')
      reserved = math.min(request[1], tonumber(amount))
      redis.call('HSET', KEYS[2], request[4], string.format('%.0f', tonumber(amount) - reserved) .. ' ' .. meta)
    end
  else
    local hold = redis.call('HGET', KEYS[2], request[3])
    if hold then
      reserved = tonumber(string.match(hold, '^(%S+)'))
      redis.call('HDEL', KEYS[2], request[3])
      redis.call('ZREM', KEYS[1], request[3])
    end
  end
  request[1] = request[1] - reserved
  for _, c in ipairs(lists[request[2]]) do
    sum[c] = (sum[c] or 0) + request[1]
    if request[1] > 0 then rise[c] = (rise[c] or 0) + request[1] end
  end
  local record = ARGV[base + 2 * r]
  if record ~= '' then
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'r', record)
    if ledger then redis.call('XADD', ledger, '*', 'r', record) end
  end
  results[r] = {1}
end
local running, limit = {}, {}
for c = 1, C do
  limit[c] = tonumber(ARGV[8 + 2 * c])
  if sum[c] ~= nil then
    running[c] = redis.call('INCRBY', KEYS[3 + c], string.format('%.0f', sum[c])) - sum[c]
    redis.call('PEXPIRE', KEYS[3 + c], ARGV[9 + 2 * c])
  end
end
local lowest = nil
for _, t in ipairs(thresholds) do
  if lowest == nil or t[2] < lowest then lowest = t[2] end
end
local watched, tried, any = {}, {}, false
for c = 1, C do
  if sum[c] ~= nil and limit[c] > 0 and lowest ~= nil and running[c] + (rise[c] or 0) >= lowest * limit[c] then
    watched[c], tried[c], any = true, {}, true
  end
end
if not any then return {1, results} end
for r = 1, N do
  local result = results[r]
  local delta = requests[r][1]
  for j, c in ipairs(lists[requests[r][2]]) do
    if watched[c] then
      running[c] = running[c] + delta
      for i, t in ipairs(thresholds) do
        if not tried[c][i] and running[c] >= t[2] * limit[c] then
          tried[c][i] = true
          if redis.call('SET', KEYS[3 + c] .. ':alert:' .. t[1], '1', 'NX', 'PX', ARGV[9 + 2 * c]) then
            result[#result + 1] = j
            result[#result + 1] = t[1]
            result[#result + 1] = running[c]
          end
        end
      end
    end
  end
end
return {1, results}
`;

/**
 * A replica's lease: a slice of what a list of counters has left, held like a request's hold (in
 * the holds hash and zset, under the lease's id, renewed while the replica lives), from which the
 * replica then reserves locally. It takes at most `fraction` of the least room any limited counter
 * has, and nothing when that is below `least` (the replica then reserves each request here, so the
 * last dollars are exact).
 * KEYS: [1] holds zset, [2] holds hash, [3..C+2] the counters
 * ARGV: [1] C, [2] wanted, [3] least, [4] fraction, [5] lease end ms, [6] lease id, [7] meta,
 *       then per counter: limit (-1 = none), counter ttl ms
 * Returns {1, amount} when leased, {0, room} when not.
 */
export const LEASE_SCRIPT = `
local C = tonumber(ARGV[1])
local room = nil
for c = 1, C do
  local limit = tonumber(ARGV[6 + 2 * c])
  if limit >= 0 then
    local left = limit - tonumber(redis.call('GET', KEYS[2 + c]) or '0')
    if room == nil or left < room then room = left end
  end
end
local size = tonumber(ARGV[2])
if room ~= nil then size = math.min(size, math.floor(room * tonumber(ARGV[4]))) end
if size < tonumber(ARGV[3]) then return {0, string.format('%.0f', math.max(room or 0, 0))} end
local amount = string.format('%.0f', size)
for c = 1, C do
  redis.call('INCRBY', KEYS[2 + c], amount)
  redis.call('PEXPIRE', KEYS[2 + c], ARGV[7 + 2 * c])
end
redis.call('HSET', KEYS[2], ARGV[6], amount .. ' ' .. ARGV[7])
redis.call('ZADD', KEYS[1], ARGV[5], ARGV[6])
return {1, amount}
`;

/**
 * Moves a request held locally on a lease to a hold of its own (a background response's, kept past
 * its request): the lease shrinks by the amount, the hold gets it; the counters do not change.
 * KEYS: [1] holds zset, [2] holds hash
 * ARGV: [1] lease id, [2] hold id, [3] amount, [4] meta, [5] hold's lease end ms
 * Returns 1, or 0 when the lease is gone (charged as a dead replica's): the amount is counted there.
 */
export const TRANSFER_SCRIPT = `
local lease = redis.call('HGET', KEYS[2], ARGV[1])
if not lease then return 0 end
local amount, meta = string.match(lease, '^(%S+) (.*)$')
local moved = math.min(tonumber(amount), tonumber(ARGV[3]))
redis.call('HSET', KEYS[2], ARGV[1], string.format('%.0f', tonumber(amount) - moved) .. ' ' .. meta)
redis.call('HSET', KEYS[2], ARGV[2], string.format('%.0f', moved) .. ' ' .. ARGV[4])
redis.call('ZADD', KEYS[1], ARGV[5], ARGV[2])
return 1
`;

/**
 * Rate windows (rate-limits.ts): every window's amount added, unless one with a limit would go
 * over it; then nothing is added.
 * KEYS: the windows. ARGV: per window: amount, limit (-1 = none), ttl ms.
 * Returns {1, count after, ...} or {0, index (1-based), count}.
 */
export const RATE_SCRIPT = `
local counts = {}
for i, key in ipairs(KEYS) do
  local count = tonumber(redis.call('GET', key) or '0')
  local amount = tonumber(ARGV[3 * i - 2])
  local limit = tonumber(ARGV[3 * i - 1])
  if limit >= 0 and amount > 0 and count + amount > limit then return {0, i, count} end
  counts[i] = count + amount
end
for i, key in ipairs(KEYS) do
  redis.call('INCRBY', key, ARGV[3 * i - 2])
  redis.call('PEXPIRE', key, ARGV[3 * i])
end
return {1, unpack(counts)}
`;

/**
 * Shared entries (interface.ts EntryStore): the write and the version's step in one call, so a
 * replica that sees the version move always reads the entry that moved it.
 * KEYS: the entries' hash, the version. ARGV: id, value ('' removes), only if absent ('1').
 * Returns 1 when something changed.
 */
export const ENTRY_SCRIPT = `
if ARGV[2] == '' then
  if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
elseif ARGV[3] == '1' then
  if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
redis.call('INCR', KEYS[2])
return 1
`;
