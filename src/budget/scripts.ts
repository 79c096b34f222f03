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
 * A request travels as one space-separated argument (its id last), and the keys of its own
 * (reservation hash, settled marker) are derived from its id.
 *
 * Every key a script touches, declared or derived, carries the store's hash tag, so the scripts
 * also run on Redis Cluster (all budget keys live in one slot).
 */

/**
 * KEYS: [1] reservations zset, [2..C+1] the batch's counters, [C+2..C+M+1] the cool-down keys of its models
 * ARGV: [1] now ms, [2] reservation hash key prefix, [3] C, [4] M, [5] L counter lists, [6] N requests,
 *       then per counter: limit (-1 = none), counter ttl ms; then the L lists of counter indexes ("1,2,3");
 *       then per request "amount expiry-ms hash-ttl-ms list-index cool-down-index request-id" (cool-down index 0: none)
 * Times to live are relative (PEXPIRE), so the proxy's clock and Redis' clock need not agree.
 * Returns per request {1} when reserved, {0, counter (1-based, in the request's list), spent} when a
 * counter would go over, {2} when the model is cooling down after an upstream's retry-after (nothing
 * is reserved).
 */
export const RESERVE_SCRIPT = `
local now = tonumber(ARGV[1])
local C = tonumber(ARGV[3])
local M = tonumber(ARGV[4])
local L = tonumber(ARGV[5])
local N = tonumber(ARGV[6])
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 32 * N)
for _, id in ipairs(expired) do
  local rkey = ARGV[2] .. id
  local amount = redis.call('HGET', rkey, 'amount')
  if amount then
    local counters = redis.call('HGET', rkey, 'counters')
    for key in string.gmatch(counters, '[^\\n]+') do redis.call('DECRBY', key, amount) end
    redis.call('DEL', rkey)
  end
  redis.call('ZREM', KEYS[1], id)
end
local limit, spent, added, cooling, results = {}, {}, {}, {}, {}
for c = 1, C do limit[c] = tonumber(ARGV[5 + 2 * c]) end
local lists, names = {}, {}
for l = 1, L do
  local list, keys = {}, {}
  for i in string.gmatch(ARGV[6 + 2 * C + l], '%d+') do
    list[#list + 1] = tonumber(i)
    keys[#keys + 1] = KEYS[1 + tonumber(i)]
  end
  lists[l] = list
  names[l] = table.concat(keys, '\\n')
end
for r = 1, N do
  local amount, expiry, ttl, l, m, id = string.match(ARGV[6 + 2 * C + L + r], '^(%S+) (%S+) (%S+) (%S+) (%S+) (.*)$')
  m = tonumber(m)
  if m > 0 and cooling[m] == nil then cooling[m] = redis.call('EXISTS', KEYS[1 + C + m]) == 1 end
  if m > 0 and cooling[m] then
    results[r] = {2}
  else
    local value = tonumber(amount)
    local list = lists[tonumber(l)]
    for j, c in ipairs(list) do
      if limit[c] >= 0 then
        if spent[c] == nil then spent[c] = tonumber(redis.call('GET', KEYS[1 + c]) or '0') end
        if spent[c] + value > limit[c] then
          results[r] = {0, j, string.format('%.0f', spent[c])}
          break
        end
      end
    end
    if results[r] == nil then
      for _, c in ipairs(list) do
        if spent[c] ~= nil then spent[c] = spent[c] + value end
        added[c] = (added[c] or 0) + value
      end
      local rkey = ARGV[2] .. id
      redis.call('HSET', rkey, 'amount', amount, 'counters', names[tonumber(l)])
      redis.call('PEXPIRE', rkey, ttl)
      redis.call('ZADD', KEYS[1], expiry, id)
      results[r] = {1}
    end
  end
end
for c = 1, C do
  if added[c] ~= nil then
    redis.call('INCRBY', KEYS[1 + c], string.format('%.0f', added[c]))
    redis.call('PEXPIRE', KEYS[1 + c], ARGV[6 + 2 * c])
  end
end
return results
`;

/**
 * KEYS: [1] reservations zset, [2] usage stream, [3..C+2] the batch's counters, [C+3..C+D+2] the
 *       aggregate hash of each of the batch's days
 * ARGV: [1] alert thresholds (comma separated), [2] records kept, [3] aggregate ttl ms, [4] settled marker ttl ms,
 *       [5] key prefix of reservation hashes, [6] key prefix of settled markers,
 *       [7] C, [8] D, [9] L counter lists, [10] N requests, then per counter: limit (-1 = none), counter ttl ms;
 *       then the L lists of counter indexes ("1,2,3"); then per day: F, then F pairs (field, the sum of
 *       the batch's deltas for it); then per request "actual-cost list-index request-id" and its
 *       record JSON ('' = none)
 * The aggregates arrive summed over the batch, so they are only right if every request of the batch
 * is settled now: when one was settled before (a retried settle), nothing is done and the script
 * returns {0, its index, ...}, for the caller to send the batch again without it.
 * Alerts are checked against each counter's value right after each request, as if the requests
 * had been settled one by one.
 * Returns {1, results}: per request {1, then (counter (1-based, in the request's list), threshold,
 * spent) per alert newly crossed}.
 */
export const SETTLE_SCRIPT = `
local C = tonumber(ARGV[7])
local D = tonumber(ARGV[8])
local L = tonumber(ARGV[9])
local N = tonumber(ARGV[10])
local a = 10 + 2 * C + L
for d = 1, D do a = a + 1 + 2 * tonumber(ARGV[a + 1]) end
local base = a
local requests, marked, settled = {}, {}, {0}
for r = 1, N do
  local actual, l, id = string.match(ARGV[base + 2 * r - 1], '^(%S+) (%S+) (.*)$')
  requests[r] = {tonumber(actual), tonumber(l), id}
  if redis.call('SET', ARGV[6] .. id, '1', 'NX', 'PX', ARGV[4]) then
    marked[#marked + 1] = ARGV[6] .. id
  else
    settled[#settled + 1] = r
  end
end
if #settled > 1 then
  for _, key in ipairs(marked) do redis.call('DEL', key) end
  return settled
end
local thresholds = {}
for t in string.gmatch(ARGV[1], '[^,]+') do thresholds[#thresholds + 1] = {t, tonumber(t)} end
local lists = {}
for l = 1, L do
  local list = {}
  for i in string.gmatch(ARGV[10 + 2 * C + l], '%d+') do list[#list + 1] = tonumber(i) end
  lists[l] = list
end
a = 10 + 2 * C + L + 1
for d = 1, D do
  local hash = KEYS[C + 2 + d]
  local fields = tonumber(ARGV[a])
  for i = 1, fields do redis.call('HINCRBY', hash, ARGV[a + 2 * i - 1], ARGV[a + 2 * i]) end
  if fields > 0 then redis.call('PEXPIRE', hash, ARGV[3]) end
  a = a + 1 + 2 * fields
end
local results, sum = {}, {}
for r = 1, N do
  local request = requests[r]
  local rkey = ARGV[5] .. request[3]
  local reserved = tonumber(redis.call('HGET', rkey, 'amount') or '0')
  redis.call('DEL', rkey)
  redis.call('ZREM', KEYS[1], request[3])
  request[1] = request[1] - reserved
  for _, c in ipairs(lists[request[2]]) do sum[c] = (sum[c] or 0) + request[1] end
  local record = ARGV[base + 2 * r]
  if record ~= '' then
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'r', record)
  end
  results[r] = {1}
end
local running, limit = {}, {}
for c = 1, C do
  limit[c] = tonumber(ARGV[9 + 2 * c])
  if sum[c] ~= nil then
    running[c] = redis.call('INCRBY', KEYS[2 + c], string.format('%.0f', sum[c])) - sum[c]
    redis.call('PEXPIRE', KEYS[2 + c], ARGV[10 + 2 * c])
  end
end
for r = 1, N do
  local result = results[r]
  local delta = requests[r][1]
  for j, c in ipairs(lists[requests[r][2]]) do
    running[c] = running[c] + delta
    if limit[c] > 0 then
      for _, t in ipairs(thresholds) do
        if running[c] >= t[2] * limit[c] then
          if redis.call('SET', KEYS[2 + c] .. ':alert:' .. t[1], '1', 'NX', 'PX', ARGV[10 + 2 * c]) then
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
