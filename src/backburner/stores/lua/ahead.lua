-- Store.count_ahead: the due jobs of a pending job's queue that a claim takes before it
-- (higher priority; or equal priority and earlier run_at; or both equal and enqueued
-- earlier), counted up to `limit`. Read only; every step reads at most `limit` entries.
-- ARGV: id, now, limit.
local id, now, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
if not all_finite(now, limit) then
  return malformed('ahead')
end
local job = read_job(id)
if job.status ~= 'queued' or limit <= 0 then
  return 0
end
-- run_at and seq as a ready-set member holds them (run_at rounded to the microsecond), as
-- claims order jobs
local function position(member)
  return tonumber(string.sub(member, 1, 20)), tonumber(string.sub(member, 21, 36))
end
local priority = tonumber(job.priority)
local run_at, seq = position(ready_member(job.run_at, job.seq, id))

-- Whether a job with these fields comes before ours in claim order (numbers, not strings,
-- are compared: Lua compares strings with the server's locale).
local function before(p, r, s)
  if p ~= priority then
    return p > priority
  end
  if r ~= run_at then
    return r < run_at
  end
  return s < seq
end

-- The ready set, scored -priority: every job of a lower score (a higher priority) is ahead,
-- then those of our score whose member (run_at, then seq) sorts before ours.
local ready = NS .. ':ready:' .. job.queue
local count = redis.call('ZCOUNT', ready, '-inf', '(' .. -priority)
if count >= limit then
  return limit
end
local same = redis.call('ZRANGEBYSCORE', ready, -priority, -priority, 'LIMIT', 0, limit)
for _, member in ipairs(same) do
  local r, s = position(member)
  if not before(priority, r, s) then
    break
  end
  count = count + 1
end

-- Due jobs a claim has not moved to the ready set yet (our job may be one of them).
local due = redis.call('ZRANGEBYSCORE', NS .. ':sched:' .. job.queue, '-inf', now, 'LIMIT', 0,
  limit)
for _, other in ipairs(due) do
  if count >= limit then
    break
  end
  local f = redis.call('HMGET', job_key(other), 'priority', 'run_at', 'seq')
  if other ~= id and f[1] then
    local r, s = position(ready_member(f[2], f[3], other))
    if before(tonumber(f[1]), r, s) then
      count = count + 1
    end
  end
end
return math.min(count, limit)
