-- Cancel a pending or waiting job, and its waiting dependents (returns 1); for a running
-- one set cancel_requested (returns 0), and with a grace (a forced cancel) cancel_grace too.
-- ARGV: id, now, grace ('' for none).
local id, now, grace = ARGV[1], ARGV[2], ARGV[3]
if not all_finite(now) or (grace ~= '' and not all_finite(grace)) then
  return malformed('cancel')
end
local key = job_key(id)
local job = read_job(id)
if job.status == 'queued' then
  -- it is in one of these two sets, depending on whether it was due yet
  redis.call('ZREM', NS .. ':ready:' .. job.queue, ready_member(job.run_at, job.seq, id))
  redis.call('ZREM', NS .. ':sched:' .. job.queue, id)
  redis.call('HSET', key, 'status', 'cancelled', 'finished_at', now)
  finish(id, job, 'queued', 'cancelled', now)
  doom(id, 'cancelled', now)
  return 1
end
if job.status == 'waiting' then
  redis.call('HSET', key, 'status', 'cancelled', 'finished_at', now)
  finish(id, job, 'waiting', 'cancelled', now)
  doom(id, 'cancelled', now)
  return 1
end
if job.status == 'running' then
  redis.call('HSET', key, 'cancel_requested', 1)
  if grace ~= '' then
    redis.call('HSET', key, 'cancel_grace', grace)
  end
end
return 0
