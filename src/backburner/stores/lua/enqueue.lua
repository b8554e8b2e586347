-- Store a batch of jobs, all or nothing.
-- ARGV: now, then 14 fields per job: id, task, queue, payload, priority, run_at,
-- created_at, max_attempts, retry_backoff, timeout ('' for none), has_unique ('1'/'0'),
-- unique_key, depends_on (a JSON list of ids, '' for none), takes_results ('1'/'0').
-- Returns {1, ids} (a deduplicated job's slot holds the live job's id), {0, clashing ids}
-- or {2, {job id, unknown dependency id}}, having written nothing.
local now = ARGV[1]
local FIELDS = 14
local count = (#ARGV - 1) / FIELDS

if count ~= math.floor(count) or not all_finite(now) then
  return malformed('enqueue')
end
for i = 0, count - 1 do
  local base = 2 + i * FIELDS
  local timeout, has_unique = ARGV[base + 9], ARGV[base + 10]
  -- priority, run_at, created_at, max_attempts, retry_backoff
  if not all_finite(unpack(ARGV, base + 4, base + 8))
      or not (timeout == '' or all_finite(timeout))
      or (has_unique ~= '0' and has_unique ~= '1') then
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

-- How each job starts (deps.starts): its dependencies are earlier jobs of the batch or
-- stored jobs; an unknown one refuses the whole batch, before any write.
local starts, position = {}, {}
for i = 0, count - 1 do
  local base = 2 + i * FIELDS
  local id, depends_on = ARGV[base], ARGV[base + 12]
  local start = {status = 'queued', waiting = 0, deps = {}}
  if depends_on ~= '' then
    start.deps = cjson.decode(depends_on)
    for _, dep in ipairs(start.deps) do
      local status
      if position[dep] then
        status = starts[position[dep]].status
      else
        status = redis.call('HGET', job_key(dep), 'status')
        if not status then
          return {2, {id, dep}}
        end
      end
      if status ~= 'succeeded' then
        start.waiting = start.waiting + 1
        if not start.error and (status == 'failed' or status == 'cancelled') then
          start.error = dependency_reason(dep, status)
        end
      end
    end
    if start.error then
      start.status = 'cancelled'
    elseif start.waiting > 0 then
      start.status = 'waiting'
    end
  end
  starts[i] = start
  position[id] = i
end

local function live_holder(unique_key)
  local other = redis.call('HGET', NS .. ':unique', unique_key)
  if not other then
    return nil
  end
  local status = redis.call('HGET', job_key(other), 'status')
  if status == 'waiting' or status == 'queued' or status == 'running' then
    return other
  end
  return nil
end

local ids, woken, holders = {}, {}, {}
for i = 0, count - 1 do
  local id, task, queue, payload, priority, run_at, created_at, max_attempts,
    retry_backoff, timeout, has_unique, unique_key, depends_on, takes_results =
      unpack(ARGV, 2 + i * FIELDS, 1 + (i + 1) * FIELDS)
  local start = starts[i]
  local holder = has_unique == '1' and live_holder(unique_key) or nil
  if holder then
    ids[#ids + 1] = holder
    holders[id] = holder
  else
    local seq = redis.call('INCR', NS .. ':seq')
    local fields = {'id', id, 'task', task, 'queue', queue, 'payload', payload,
      'priority', priority, 'status', 'queued', 'run_at', run_at, 'created_at', created_at,
      'max_attempts', max_attempts, 'retry_backoff', retry_backoff, 'attempts', 0,
      'token', 0, 'failures', '[]', 'cancel_requested', 0, 'seq', seq,
      'waiting_for', start.waiting}
    if depends_on ~= '' then
      fields[#fields + 1] = 'depends_on'
      fields[#fields + 1] = depends_on
    end
    if takes_results == '1' then
      fields[#fields + 1] = 'takes_results'
      fields[#fields + 1] = '1'
    end
    if timeout ~= '' then
      fields[#fields + 1] = 'timeout'
      fields[#fields + 1] = timeout
    end
    if has_unique == '1' then
      fields[#fields + 1] = 'unique_key'
      fields[#fields + 1] = unique_key
      redis.call('HSET', NS .. ':unique', unique_key, id)
    end
    redis.call('HSET', job_key(id), unpack(fields))
    for _, dep in ipairs(start.deps) do
      redis.call('SADD', deps_key(holders[dep] or dep), id)
    end
    if redis.call('SADD', NS .. ':queues', queue) == 1 then
      -- a new queue: workers waiting on every queue must start listening to it too
      push_tokens(NS .. ':wake', 1)
    end
    if start.status == 'queued' then
      redis.call('ZADD', idx_key('queued', queue), seq, id)
      make_pending(id, queue, priority, run_at, seq, now)
      woken[queue] = (woken[queue] or 0) + 1
    elseif start.status == 'waiting' then
      redis.call('HSET', job_key(id), 'status', 'waiting')
      redis.call('ZADD', idx_key('waiting', queue), seq, id)
    else
      redis.call('HSET', job_key(id), 'status', 'cancelled', 'finished_at', now,
        'error', start.error)
      finish(id, {queue = queue, seq = seq, unique_key = nil}, 'cancelled', 'cancelled', now)
    end
    ids[#ids + 1] = id
  end
end
-- Scheduled jobs wake waiters too, so they shorten their wait to the new due time.
for queue, n in pairs(woken) do
  wake(queue, n)
end
return {1, ids}
