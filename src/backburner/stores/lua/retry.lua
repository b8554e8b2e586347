-- Queue a failed or cancelled job again now with fresh attempts. ARGV: id, now.
-- Returns 0 for any other job, or when another live job holds its unique_key.
local id, now = ARGV[1], ARGV[2]
local key = job_key(id)
local job = read_job(id)
if job.status ~= 'failed' and job.status ~= 'cancelled' then
  return 0
end
if job.unique_key then
  local other = redis.call('HGET', NS .. ':unique', job.unique_key)
  if other and other ~= id then
    local status = redis.call('HGET', job_key(other), 'status')
    if status == 'queued' or status == 'running' then
      return 0
    end
  end
  redis.call('HSET', NS .. ':unique', job.unique_key, id)
end
redis.call('HSET', key, 'status', 'queued', 'attempts', 0, 'run_at', now,
  'cancel_requested', 0)
redis.call('HDEL', key, 'finished_at')
redis.call('ZREM', NS .. ':finished', id)
reindex(id, job, job.status, 'queued')
make_pending(id, job.queue, job.priority, now, job.seq, now)
wake(job.queue, 1)
return 1
