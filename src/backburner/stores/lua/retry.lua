-- Queue a failed or cancelled job again now with fresh attempts. ARGV: id, now.
-- Returns 0 for any other job, or when another live job holds its unique_key.
local id, now = ARGV[1], ARGV[2]
if not all_finite(now) then
  return malformed('retry')
end
local key = job_key(id)
local job = read_job(id)
if job.status ~= 'failed' and job.status ~= 'cancelled' then
  return 0
end
if tonumber(redis.call('HGET', key, 'waiting_for') or '0') > 0 then
  return 0 -- a dependency of its own has not succeeded: retry that one
end
if job.unique_key then
  local other = redis.call('HGET', NS .. ':unique', job.unique_key)
  if other and other ~= id then
    local status = redis.call('HGET', job_key(other), 'status')
    if status == 'waiting' or status == 'queued' or status == 'running' then
      return 0
    end
  end
  redis.call('HSET', NS .. ':unique', job.unique_key, id)
end
-- The last failure is marked with the time of this retry: the JSON text is edited, not
-- decoded, so every other float in it keeps its digits (cjson would round them).
local failures = redis.call('HGET', key, 'failures') or '[]'
if failures ~= '[]' then
  failures = string.gsub(failures, ', "retried_at": [^,}]*}%]$', '}]')
  failures = string.sub(failures, 1, -3) .. ', "retried_at": ' .. now .. '}]'
end
redis.call('HSET', key, 'status', 'queued', 'attempts', 0, 'run_at', now,
  'cancel_requested', 0, 'failures', failures)
redis.call('HDEL', key, 'finished_at', 'cancel_grace')
redis.call('ZREM', NS .. ':finished', id)
reindex(id, job, job.status, 'queued')
make_pending(id, job.queue, job.priority, now, job.seq, now)
wake(job.queue, 1)
revive(id)
return 1
