-- Claim one job by id, as claim_jobs would, if it is queued and due (eager mode runs the
-- job it just enqueued this way, and no other).
-- ARGV: id, now, lease_until, worker_id. Returns the job as a flat HGETALL list, or false.
local id, now, lease_until, worker = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if not all_finite(now, lease_until) then
  return malformed('claim_job')
end
local key = job_key(id)
local job = read_job(id)
if job.status ~= 'queued' or tonumber(job.run_at) > tonumber(now) then
  return false
end
-- due but maybe not promoted yet: it is in one of these two sets
redis.call('ZREM', NS .. ':ready:' .. job.queue, ready_member(job.run_at, job.seq, id))
redis.call('ZREM', NS .. ':sched:' .. job.queue, id)
redis.call('HSET', key, 'status', 'running', 'attempts', tonumber(job.attempts) + 1,
  'token', tonumber(job.token) + 1, 'worker_id', worker, 'lease_until', lease_until,
  'started_at', now)
redis.call('ZADD', NS .. ':leases', lease_until, id)
reindex(id, job, 'queued', 'running')
-- eager mode runs the job whatever its limits, but it holds its slot like any other
if job.concurrency_key then
  redis.call('SADD', holders_key(job.concurrency_key), id)
end
return redis.call('HGETALL', key)
