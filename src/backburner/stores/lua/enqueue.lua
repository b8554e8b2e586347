-- Store a batch of jobs, all or nothing.
-- ARGV: now, then 17 fields per job: id, task, queue, payload, priority, run_at,
-- created_at, max_attempts, retry_backoff, timeout ('' for none), has_unique ('1'/'0'),
-- unique_key, concurrency, concurrency_key, rate_limit, rate_period, rate_key (the
-- limits '' for none). Returns {1, ids} (a deduplicated job's slot holds the live job's id), or
-- {0, clashing ids} having written nothing.
local now = ARGV[1]
local FIELDS = 17
local count = (#ARGV - 1) / FIELDS

if count ~= math.floor(count) or not all_finite(now) then
  return malformed('enqueue')
end
for i = 0, count - 1 do
  local base = 2 + i * FIELDS
  local timeout, has_unique = ARGV[base + 9], ARGV[base + 10]
  local concurrency, rate_limit, rate_period = ARGV[base + 12], ARGV[base + 14],
    ARGV[base + 15]
  -- priority, run_at, created_at, max_attempts, retry_backoff
  if not all_finite(unpack(ARGV, base + 4, base + 8))
      or not (timeout == '' or all_finite(timeout))
      or (has_unique ~= '0' and has_unique ~= '1')
      or not (concurrency == '' or all_finite(concurrency))
      or not (rate_limit == '' or all_finite(rate_limit, rate_period)) then
    return malformed('enqueue')
  end
end

-- Check every id before writing anything: a script cannot roll back its writes.
local seen, clashes = {}, {}
for i = 0, count - 1 do
  local id = ARGV[2 + i * FIELDS]
  if seen[id] or redis.call('EXISTS', job_key(id)) == 1 then
    clashes[#clashes + 1] = id
  end
  seen[id] = true
end
if #clashes > 0 then
  return {0, clashes}
end

local function live_holder(unique_key)
  local other = redis.call('HGET', NS .. ':unique', unique_key)
  if not other then
    return nil
  end
  local status = redis.call('HGET', job_key(other), 'status')
  if status == 'queued' or status == 'running' then
    return other
  end
  return nil
end

local ids, woken = {}, {}
for i = 0, count - 1 do
  local id, task, queue, payload, priority, run_at, created_at, max_attempts,
    retry_backoff, timeout, has_unique, unique_key, concurrency, concurrency_key,
    rate_limit, rate_period, rate_key = unpack(ARGV, 2 + i * FIELDS, 1 + (i + 1) * FIELDS)
  local holder = has_unique == '1' and live_holder(unique_key) or nil
  if holder then
    ids[#ids + 1] = holder
  else
    local seq = redis.call('INCR', NS .. ':seq')
    local fields = {'id', id, 'task', task, 'queue', queue, 'payload', payload,
      'priority', priority, 'status', 'queued', 'run_at', run_at, 'created_at', created_at,
      'max_attempts', max_attempts, 'retry_backoff', retry_backoff, 'attempts', 0,
      'token', 0, 'failures', '[]', 'cancel_requested', 0, 'seq', seq}
    if timeout ~= '' then
      fields[#fields + 1] = 'timeout'
      fields[#fields + 1] = timeout
    end
    if has_unique == '1' then
      fields[#fields + 1] = 'unique_key'
      fields[#fields + 1] = unique_key
      redis.call('HSET', NS .. ':unique', unique_key, id)
    end
    if concurrency ~= '' then
      for _, v in ipairs({'concurrency', concurrency, 'concurrency_key', concurrency_key}) do
        fields[#fields + 1] = v
      end
    end
    if rate_limit ~= '' then
      for _, v in ipairs({'rate_limit', rate_limit, 'rate_period', rate_period,
          'rate_key', rate_key}) do
        fields[#fields + 1] = v
      end
    end
    redis.call('HSET', job_key(id), unpack(fields))
    redis.call('ZADD', idx_key('queued', queue), seq, id)
    if redis.call('SADD', NS .. ':queues', queue) == 1 then
      -- a new queue: workers waiting on every queue must start listening to it too
      push_tokens(NS .. ':wake', 1)
    end
    make_pending(id, queue, priority, run_at, seq, now)
    woken[queue] = (woken[queue] or 0) + 1
    ids[#ids + 1] = id
  end
end
-- Scheduled jobs wake waiters too, so they shorten their wait to the new due time.
for queue, n in pairs(woken) do
  wake(queue, n)
end
return {1, ids}
