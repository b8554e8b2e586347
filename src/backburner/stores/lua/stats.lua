-- The monitoring gauges. ARGV: now, alive_since. Reads only, each call O(log n).
-- Returns {workers alive, then per queue: name, due, scheduled, running, waiting, oldest
-- due run_at or ''}. The oldest due job is the first of the scheduled set if due, or the first of a
-- band of its ready set (one band per priority, each sorted by run_at): up to BANDS bands
-- are looked at, enough for any real use of priorities.
local BANDS = 64
local now, alive_since = tonumber(ARGV[1]), ARGV[2]
local out = {redis.call('ZCOUNT', NS .. ':beats', alive_since, '+inf')}
for _, queue in ipairs(redis.call('SMEMBERS', NS .. ':queues')) do
  local sched, ready = NS .. ':sched:' .. queue, NS .. ':ready:' .. queue
  local pending = redis.call('ZCARD', idx_key('queued', queue))
  local later = redis.call('ZCOUNT', sched, '(' .. ARGV[1], '+inf')
  local running = redis.call('ZCARD', idx_key('running', queue))
  local waiting = redis.call('ZCARD', idx_key('waiting', queue))
  local oldest = nil
  local head = redis.call('ZRANGE', sched, 0, 0, 'WITHSCORES')
  if #head > 0 and tonumber(head[2]) <= now then
    oldest = head[2]
  end
  head = redis.call('ZRANGE', ready, 0, 0, 'WITHSCORES')
  local bands = 0
  while #head > 0 and bands < BANDS do
    local at = string.sub(head[1], 1, 20)
    if oldest == nil or tonumber(at) < tonumber(oldest) then
      oldest = at
    end
    bands = bands + 1
    head = redis.call('ZRANGEBYSCORE', ready, '(' .. head[2], '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  end
  if pending + running + waiting > 0 then
    for _, v in ipairs({queue, pending - later, later, running, waiting, oldest or ''}) do
      out[#out + 1] = v
    end
  end
end
return out
