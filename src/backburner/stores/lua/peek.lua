-- Is work due? ARGV: now, hand id ('' for none), timeout, lease seconds, worker id, then
-- '*' (every queue) or '-' then queue names.
-- With none due and a hand id, registers the caller in {p}:idlers until it stops
-- waiting (the timeout, or when a job may next be due), for an enqueue to hand it a job.
-- Returns {1 if a job could be claimed now else 0, when one may next be (the earliest
-- scheduled run_at, or rate window edge of a waiting job) or '', the queues looked at}.
-- Paused queues are looked at (their wake-up lists tell of a resume) but hold no work.
-- A job waiting for a concurrency slot adds no time: the end of a holder wakes its queue.
local PEEK = 1000 -- ready jobs looked at per queue, past the first that is within limits
local now, hand, timeout, lease, worker = unpack(ARGV, 1, 5)
if not all_finite(now, timeout) or (hand ~= '' and not all_finite(lease)) then
  return malformed('peek')
end
local queues = {}
if ARGV[6] == '*' then
  queues = redis.call('SMEMBERS', NS .. ':queues')
else
  for i = 7, #ARGV do
    queues[#queues + 1] = ARGV[i]
  end
end
local named = ARGV[6] == '*' and '*' or {unpack(queues)}
local ready, next_due, counts = 0, nil, {}
local function sooner(at)
  if next_due == nil or tonumber(at) < tonumber(next_due) then
    next_due = at
  end
end
for _, queue in ipairs(unpaused(queues)) do
  local head = redis.call('ZRANGE', NS .. ':sched:' .. queue, 0, 0, 'WITHSCORES')
  if #head > 0 then
    sooner(head[2])
  end
  if ready == 0 then
    for _, member in ipairs(redis.call('ZRANGE', NS .. ':ready:' .. queue, 0, PEEK - 1)) do
      local job = read_job(string.sub(member, string.find(member, '|', 1, true) + 1))
      if job.status ~= 'queued' or not (job.concurrency or job.rate_limit)
          or fits(job, now, counts) then
        ready = 1
        break
      end
      if job.rate_limit then
        local edge = redis.call('ZRANGEBYSCORE', rate_key(job.rate_key), '(' .. now, '+inf',
          'WITHSCORES', 'LIMIT', 0, 1)
        if #edge > 0 then
          sooner(edge[2])
        end
      end
    end
  end
end
if ready == 0 and hand ~= '' then
  local till = tonumber(now) + tonumber(timeout)
  if next_due ~= nil then
    till = math.min(till, tonumber(next_due))
  end
  if till - tonumber(now) >= 0.001 then -- else the caller does not wait
    redis.call('HSET', IDLERS, hand,
      cjson.encode({string.format('%.6f', till), lease, worker, named}))
  end
end
return {ready, next_due or '', queues}
