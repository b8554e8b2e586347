-- Hand a held job back to its queue without counting the attempt. ARGV: id, token, now.
local id, token, now = ARGV[1], ARGV[2], ARGV[3]
local job = read_job(id)
if not is_held(job, token) then
  return 0
end
local key = job_key(id)
redis.call('HSET', key, 'status', 'queued', 'attempts', tonumber(job.attempts) - 1)
redis.call('HDEL', key, 'lease_until')
redis.call('ZREM', NS .. ':leases', id)
reindex(id, job, 'running', 'queued')
make_pending(id, job.queue, job.priority, job.run_at, job.seq, now)
wake(job.queue, 1)
return 1
