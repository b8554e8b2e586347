-- End attempts whose lease lapsed before `now`: retried at once while attempts remain.
-- ARGV: now, error, failure JSON tail, batch. Returns {rescued ids, entries examined}.
local now, err, tail, batch = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local leases = NS .. ':leases'
local expired = redis.call('ZRANGEBYSCORE', leases, '-inf', '(' .. now, 'LIMIT', 0, batch)
local rescued = {}
for _, id in ipairs(expired) do
  local job = read_job(id)
  if job.status == 'running' then
    local retry_at = ''
    if tonumber(job.attempts) < tonumber(job.max_attempts) then
      retry_at = now
    end
    end_attempt(id, job, now, err, tail, retry_at)
    rescued[#rescued + 1] = id
  else
    redis.call('ZREM', leases, id) -- a stale entry: the job is no longer running
  end
end
return {rescued, #expired}
