-- Apply a batch of attempt endings decided in Python (backburner.policy.Ending); each is
-- atomic on its own, and this script applies them in order.
-- ARGV: now, then per ending (STRIDE values): id, token, status, if_cancelled, at,
-- run_at ('' keeps the job's), counted ('1'/'0'), lapsed_before ('' for none), error ('' for
-- none; else it becomes the job's error), failure JSON tail after its attempt number ('' when
-- the ending adds no failure to the history).
-- Returns per ending the status the job was left in, or '' (refused: changed nothing).
local STRIDE = 10
local ENDS = {queued = true, succeeded = true, failed = true, cancelled = true}

local function number_or_empty(value)
  return value == '' or all_finite(value)
end

-- A script cannot take back the writes it made before an error, so every argument of
-- every ending is checked before the first write.
local function check(now)
  if not all_finite(now) or (#ARGV - 1) % STRIDE ~= 0 then
    return false
  end
  for base = 2, #ARGV, STRIDE do
    local token, status, if_cancelled, at = ARGV[base + 1], ARGV[base + 2], ARGV[base + 3],
      ARGV[base + 4]
    local counted = ARGV[base + 6]
    if not all_finite(token, at) or not ENDS[status]
        or not ENDS[if_cancelled] or not number_or_empty(ARGV[base + 5])
        or not number_or_empty(ARGV[base + 7]) or (counted ~= '1' and counted ~= '0') then
      return false
    end
  end
  return true
end

-- `failures` (a JSON list) with one more item: the attempt number, then `tail` (built by
-- Python, so floats keep full precision).
local function with_failure(failures, attempt, tail)
  local item = '{"attempt": ' .. attempt .. ', ' .. tail
  if failures == '[]' then
    return '[' .. item .. ']'
  end
  return string.sub(failures, 1, -2) .. ', ' .. item .. ']'
end

-- Still the attempt's to end: its token holds the job and, for a lapse, its lease has
-- not been renewed past `lapsed_before` since the caller saw it lapse.
local function endable(id, job, token, lapsed_before)
  if not is_held(job, token) then
    return false
  end
  if lapsed_before == '' then
    return true
  end
  local lease = tonumber(redis.call('HGET', job_key(id), 'lease_until')) or 0
  return lease < tonumber(lapsed_before)
end

local function apply(now, base)
  local id, token, status, if_cancelled, at, run_at, counted, lapsed_before, err, tail =
    unpack(ARGV, base, base + STRIDE - 1)
  local job = read_job(id)
  if not endable(id, job, token, lapsed_before) then
    return ''
  end
  local key = job_key(id)
  if job.cancel_requested == '1' then
    status = if_cancelled
  end
  local fields = {'status', status}
  if tail ~= '' then
    local failures = redis.call('HGET', key, 'failures')
    table.insert(fields, 'failures')
    table.insert(fields, with_failure(failures, job.attempts, tail))
  end
  if err ~= '' then
    table.insert(fields, 'error')
    table.insert(fields, err)
  end
  if counted == '0' then
    table.insert(fields, 'attempts')
    table.insert(fields, tonumber(job.attempts) - 1)
    -- an attempt given back leaves no trace (see policy.Ending)
    redis.call('HDEL', key, 'started_at', 'worker_id', 'progress')
  end
  redis.call('HDEL', key, 'lease_until')
  redis.call('ZREM', NS .. ':leases', id)
  free_slot(id, job)
  if status == 'queued' then
    if run_at == '' then
      run_at = job.run_at
    end
    table.insert(fields, 'run_at')
    table.insert(fields, run_at)
    redis.call('HSET', key, unpack(fields))
    reindex(id, job, 'running', 'queued')
    make_pending(id, job.queue, job.priority, run_at, job.seq, now)
    wake(job.queue, 1)
  else
    table.insert(fields, 'finished_at')
    table.insert(fields, at)
    redis.call('HSET', key, unpack(fields))
    finish(id, job, 'running', status, at)
    if job.has_dependents and (status == 'failed' or status == 'cancelled') then
      doom(id, status, at)
    end
  end
  return status
end

local now = ARGV[1]
if not check(now) then
  return redis.error_reply('end_attempts: malformed arguments; nothing was changed')
end
local applied = {}
for base = 2, #ARGV, STRIDE do
  applied[#applied + 1] = apply(now, base)
end
return applied
