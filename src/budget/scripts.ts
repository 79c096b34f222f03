/**
 * The Lua scripts behind the Redis store. Each runs atomically in Redis, so every replica sees
 * a reservation either wholly applied to all its counters or not at all. Amounts travel as
 * decimal strings and go to INCRBY as strings: Lua numbers would print large values in exponent
 * form, so sums computed in Lua are printed with %.0f.
 *
 * Each script takes a batch of requests (the calls one replica made in one turn of its event loop)
 * and treats them one after another, in order, exactly as separate calls would be treated; what
 * the batch shares is done once: the script call itself, and each counter's INCRBY and PEXPIRE
 * (and each day's HINCRBY per field), with the sum of what the batch's requests added. Redis spends
 * most of a small script's time entering and leaving Lua, so this divides its cost per request.
 *
 * Every key a script touches, declared or derived, carries the store's hash tag, so the scripts
 * also run on Redis Cluster (all budget keys live in one slot).
 */

/**
 * KEYS: [1] reservations zset, [2..C+1] the batch's counters, then per request: its reservation hash,
 *       the model's cool-down key
 * ARGV: [1] now ms, [2] reservation hash key prefix, [3] C, [4] N requests,
 *       then per counter: limit (-1 = none), counter ttl ms,
 *       then per request: amount, reservation expiry ms, reservation hash ttl ms, request id,
 *       its counters as indexes into the batch's ("1,2,3")
 * Times to live are relative (PEXPIRE), so the proxy's clock and Redis' clock need not agree.
 * Returns per request {1} when reserved, {0, counter (1-based, in the request's list), spent} when a
 * counter would go over, {2} when the model is cooling down after an upstream's retry-after (nothing
 * is reserved).
 */
export const RESERVE_SCRIPT = `
local now = tonumber(ARGV[1])
local C = tonumber(ARGV[3])
local N = tonumber(ARGV[4])
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
for c = 1, C do limit[c] = tonumber(ARGV[3 + 2 * c]) end
local base = 4 + 2 * C
for r = 1, N do
  local a = base + 5 * (r - 1)
  local coolKey = KEYS[1 + C + 2 * r]
  if cooling[coolKey] == nil then cooling[coolKey] = redis.call('EXISTS', coolKey) == 1 end
  if cooling[coolKey] then
    results[r] = {2}
  else
    local amount = tonumber(ARGV[a + 1])
    local list = {}
    for i in string.gmatch(ARGV[a + 5], '%d+') do list[#list + 1] = tonumber(i) end
    for j, c in ipairs(list) do
      if limit[c] >= 0 then
        if spent[c] == nil then spent[c] = tonumber(redis.call('GET', KEYS[1 + c]) or '0') end
        if spent[c] + amount > limit[c] then
          results[r] = {0, j, string.format('%.0f', spent[c])}
          break
        end
      end
    end
    if results[r] == nil then
      local names = {}
      for j, c in ipairs(list) do
        if spent[c] ~= nil then spent[c] = spent[c] + amount end
        added[c] = (added[c] or 0) + amount
        names[j] = KEYS[1 + c]
      end
      local rkey = KEYS[C + 2 * r]
      redis.call('HSET', rkey, 'amount', ARGV[a + 1], 'counters', table.concat(names, '\\n'))
      redis.call('PEXPIRE', rkey, ARGV[a + 3])
      redis.call('ZADD', KEYS[1], ARGV[a + 2], ARGV[a + 4])
      results[r] = {1}
    end
  end
end
for c = 1, C do
  if added[c] ~= nil then
    redis.call('INCRBY', KEYS[1 + c], string.format('%.0f', added[c]))
    redis.call('PEXPIRE', KEYS[1 + c], ARGV[4 + 2 * c])
  end
end
return results
`;

/**
 * KEYS: [1] reservations zset, [2] usage stream, [3..C+2] the batch's counters, [C+3..C+D+2] the
 *       aggregate hash of each of the batch's days, then per request: its reservation hash, its settled marker
 * ARGV: [1] alert thresholds (comma separated), [2] records kept, [3] aggregate ttl ms, [4] settled marker ttl ms,
 *       [5] C, [6] D, [7] N requests, then per counter: limit (-1 = none), counter ttl ms,
 *       then per request: actual cost, request id, record JSON ('' = none), its counters as indexes
 *       ("1,2,3"), its day as an index, its aggregate fields as JSON [[field, delta], ...]
 * A request already settled changes nothing. Alerts are checked against each counter's value right
 * after each request, as if the requests had been settled one by one.
 * Returns per request {0} when already settled, else {1, then (counter (1-based, in the request's
 * list), threshold, spent) per alert newly crossed}.
 */
export const SETTLE_SCRIPT = `
local C = tonumber(ARGV[5])
local D = tonumber(ARGV[6])
local N = tonumber(ARGV[7])
local thresholds = {}
for t in string.gmatch(ARGV[1], '[^,]+') do thresholds[#thresholds + 1] = t end
local base = 7 + 2 * C
local results, applied, sum, agg, order = {}, {}, {}, {}, {}
for r = 1, N do
  local a = base + 6 * (r - 1)
  if redis.call('SET', KEYS[C + D + 2 + 2 * r], '1', 'NX', 'PX', ARGV[4]) then
    local rkey = KEYS[C + D + 1 + 2 * r]
    local reserved = tonumber(redis.call('HGET', rkey, 'amount') or '0')
    redis.call('DEL', rkey)
    redis.call('ZREM', KEYS[1], ARGV[a + 2])
    local delta = tonumber(ARGV[a + 1]) - reserved
    local list = {}
    for i in string.gmatch(ARGV[a + 4], '%d+') do
      local c = tonumber(i)
      list[#list + 1] = c
      sum[c] = (sum[c] or 0) + delta
    end
    applied[#applied + 1] = {r, delta, list}
    if ARGV[a + 3] ~= '' then
      redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'r', ARGV[a + 3])
    end
    local day = tonumber(ARGV[a + 5])
    if agg[day] == nil then
      agg[day] = {}
      order[day] = {}
    end
    for _, pair in ipairs(cjson.decode(ARGV[a + 6])) do
      local field = pair[1]
      if agg[day][field] == nil then
        agg[day][field] = 0
        order[day][#order[day] + 1] = field
      end
      agg[day][field] = agg[day][field] + pair[2]
    end
    results[r] = {1}
  else
    results[r] = {0}
  end
end
local running = {}
for c = 1, C do
  if sum[c] ~= nil then
    running[c] = redis.call('INCRBY', KEYS[2 + c], string.format('%.0f', sum[c])) - sum[c]
    redis.call('PEXPIRE', KEYS[2 + c], ARGV[7 + 2 * c])
  end
end
for _, entry in ipairs(applied) do
  local result = results[entry[1]]
  for j, c in ipairs(entry[3]) do
    running[c] = running[c] + entry[2]
    local limit = tonumber(ARGV[6 + 2 * c])
    if limit > 0 then
      for _, t in ipairs(thresholds) do
        if running[c] >= tonumber(t) * limit then
          if redis.call('SET', KEYS[2 + c] .. ':alert:' .. t, '1', 'NX', 'PX', ARGV[7 + 2 * c]) then
            result[#result + 1] = j
            result[#result + 1] = t
            result[#result + 1] = running[c]
          end
        end
      end
    end
  end
end
for d = 1, D do
  if order[d] ~= nil and #order[d] > 0 then
    for _, field in ipairs(order[d]) do
      redis.call('HINCRBY', KEYS[C + 2 + d], field, string.format('%.0f', agg[d][field]))
    end
    redis.call('PEXPIRE', KEYS[C + 2 + d], ARGV[3])
  end
end
return results
`;
