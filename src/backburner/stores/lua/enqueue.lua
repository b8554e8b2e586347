-- Store a batch of jobs, all or nothing.
-- Jobs of a batch mostly share everything but their id and arguments, so what they share
-- comes once per "shape" (a bulk enqueue of 50,000 jobs is then 150,000 arguments, not
-- 700,000, and its numbers are checked once per shape).
-- ARGV: now, the number of shapes, then 17 fields per shape: task, queue, priority,
-- run_at, created_at, max_attempts, retry_backoff, timeout ('' for none), has_unique
-- ('1'/'0'), unique_key, depends_on (a JSON list of ids, '' for none), takes_results
-- ('1'/'0'), concurrency, concurrency_key, rate_limit, rate_period, rate_key (the limits
-- '' for none); then 4 fields per job: id, payload, its shape (1-based), trace_context ('' for
-- none).
-- Returns {1, {position, live job id, ...}} for the jobs deduplicated by unique_key (their
-- slot holds the live job's id; positions are 1-based; every other job is stored under its
-- own id), {0, clashing ids} or {2, {job id, unknown dependency id}}, having written nothing.
local now, nshapes = ARGV[1], tonumber(ARGV[2])
local SHAPE, FIELDS = 17, 4
if not all_finite(now, nshapes) then
  return malformed('enqueue')
end
local first = 3 + nshapes * SHAPE -- the first job's id
local count = (#ARGV - first + 1) / FIELDS
if count ~= math.floor(count) or count < 0 then
  return malformed('enqueue')
end

local shapes = {}
for s = 1, nshapes do
  local base = 3 + (s - 1) * SHAPE
  local shape = {}
  shape.task, shape.queue, shape.priority, shape.run_at, shape.created_at,
    shape.max_attempts, shape.retry_backoff, shape.timeout, shape.has_unique,
    shape.unique_key, shape.depends_on, shape.takes_results, shape.concurrency,
    shape.concurrency_key, shape.rate_limit, shape.rate_period, shape.rate_key =
      unpack(ARGV, base, base + SHAPE - 1)
  if not all_finite(shape.priority, shape.run_at, shape.created_at, shape.max_attempts,
        shape.retry_backoff)
      or not (shape.timeout == '' or all_finite(shape.timeout))
      or (shape.has_unique ~= '0' and shape.has_unique ~= '1')
      or not (shape.concurrency == '' or all_finite(shape.concurrency))
      or not (shape.rate_limit == '' or all_finite(shape.rate_limit, shape.rate_period)) then
    return malformed('enqueue')
  end
  shape.due = tonumber(shape.run_at) <= tonumber(now)
  shape.ready_prefix = ready_prefix(shape.run_at)
  shapes[s] = shape
end
for i = 0, count - 1 do
  if not shapes[tonumber(ARGV[first + i * FIELDS + 2])] then
    return malformed('enqueue')
  end
end

-- Check every id before writing anything: a script cannot roll back its writes. One
-- EXISTS per 1,000 ids; only a batch that clashes looks at them one by one.
local seen, clashes, keys = {}, {}, {}
for i = 0, count - 1 do
  local id = ARGV[first + i * FIELDS]
  if seen[id] then
    clashes[#clashes + 1] = id
  end
  seen[id] = true
  keys[#keys + 1] = job_key(id)
  if #keys == 1000 or i == count - 1 then
    if redis.call('EXISTS', unpack(keys)) > 0 then
      for _, key in ipairs(keys) do
        if redis.call('EXISTS', key) == 1 then
          clashes[#clashes + 1] = string.sub(key, #job_key('') + 1)
        end
      end
    end
    keys = {}
  end
end
if #clashes > 0 then
  return {0, clashes}
end

-- How each job with dependencies starts (deps.starts): its dependencies are earlier jobs
-- of the batch or stored jobs; an unknown one refuses the whole batch, before any write.
local PLAIN = {status = 'queued', waiting = 0, deps = {}}
local starts, position = {}, {}
for i = 0, count - 1 do
  local id = ARGV[first + i * FIELDS]
  local depends_on = shapes[tonumber(ARGV[first + i * FIELDS + 2])].depends_on
  local start = PLAIN
  if depends_on ~= '' then
    start = {status = 'queued', waiting = 0, deps = {}}
    local named = {}
    for _, dep in ipairs(cjson.decode(depends_on)) do
      if not named[dep] then -- one named twice counts once
        named[dep] = true
        start.deps[#start.deps + 1] = dep
      end
    end
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

-- Sorted-set additions are gathered per key and made in a few ZADDs at the end: one
-- call per job fewer each.
local adds = {}
local function add(key, score, member)
  local list = adds[key]
  if not list then
    list = {}
    adds[key] = list
  end
  list[#list + 1] = score
  list[#list + 1] = member
end

local deduplicated, woken, holders, queues = {}, {}, {}, {}
local first_seq = redis.call('INCRBY', NS .. ':seq', count) - count
for i = 0, count - 1 do
  local base = first + i * FIELDS
  local id, payload = ARGV[base], ARGV[base + 1]
  local shape = shapes[tonumber(ARGV[base + 2])]
  local queue = shape.queue
  local start = starts[i]
  local holder = shape.has_unique == '1' and live_holder(shape.unique_key) or nil
  if holder then
    deduplicated[#deduplicated + 1] = i + 1
    deduplicated[#deduplicated + 1] = holder
    holders[id] = holder
  else
    local seq = first_seq + i + 1
    local idler = nil
    if count == 1 and start.status == 'queued' and shape.due and shape.concurrency == ''
        and shape.rate_limit == '' then
      idler = idler_for(queue, now)
    end
    local status, claims = start.status, 0
    if idler then
      status, claims = 'running', 1 -- claimed here, as claim_jobs would
    end
    local fields = {'id', id, 'task', shape.task, 'queue', queue, 'payload', payload,
      'priority', shape.priority, 'status', status, 'run_at', shape.run_at,
      'created_at', shape.created_at, 'max_attempts', shape.max_attempts,
      'retry_backoff', shape.retry_backoff, 'attempts', claims, 'token', claims,
      'failures', '[]', 'cancel_requested', 0, 'seq', seq, 'waiting_for', start.waiting}
    local lease_until
    if idler then
      lease_until = string.format('%.6f', tonumber(now) + tonumber(idler.lease))
      for _, v in ipairs({'worker_id', idler.worker, 'lease_until', lease_until,
          'started_at', now}) do
        fields[#fields + 1] = v
      end
    end
    if shape.depends_on ~= '' then
      fields[#fields + 1] = 'depends_on'
      fields[#fields + 1] = shape.depends_on
    end
    if shape.takes_results == '1' then
      fields[#fields + 1] = 'takes_results'
      fields[#fields + 1] = '1'
    end
    if shape.concurrency ~= '' then
      for _, v in ipairs({'concurrency', shape.concurrency,
          'concurrency_key', shape.concurrency_key}) do
        fields[#fields + 1] = v
      end
    end
    if shape.rate_limit ~= '' then
      for _, v in ipairs({'rate_limit', shape.rate_limit, 'rate_period', shape.rate_period,
          'rate_key', shape.rate_key}) do
        fields[#fields + 1] = v
      end
    end
    local trace_context = ARGV[base + 3]
    if trace_context ~= '' then
      fields[#fields + 1] = 'trace_context'
      fields[#fields + 1] = trace_context
    end
    if shape.timeout ~= '' then
      fields[#fields + 1] = 'timeout'
      fields[#fields + 1] = shape.timeout
    end
    if start.error then
      fields[#fields + 1] = 'error'
      fields[#fields + 1] = start.error
      fields[#fields + 1] = 'finished_at'
      fields[#fields + 1] = now
    end
    if shape.has_unique == '1' then
      fields[#fields + 1] = 'unique_key'
      fields[#fields + 1] = shape.unique_key
      if not start.error then
        redis.call('HSET', NS .. ':unique', shape.unique_key, id)
      end
    end
    redis.call('HSET', job_key(id), unpack(fields))
    for _, dep in ipairs(start.deps) do
      redis.call('SADD', deps_key(holders[dep] or dep), id)
      redis.call('HSET', job_key(holders[dep] or dep), 'has_dependents', 1)
    end
    if idler then
      hand_over(id, queue, seq, idler, lease_until)
    elseif start.status == 'queued' then
      add(idx_key('queued', queue), seq, id)
      -- make_pending(), gathered
      if shape.due then
        add(NS .. ':ready:' .. queue, -tonumber(shape.priority),
          ready_member_after(shape.ready_prefix, seq, id))
      else
        add(NS .. ':sched:' .. queue, shape.run_at, id)
      end
      woken[queue] = (woken[queue] or 0) + 1
    elseif start.status == 'waiting' then
      add(idx_key('waiting', queue), seq, id)
    else
      add(idx_key('cancelled', queue), seq, id)
      add(NS .. ':finished', now, id)
    end
    -- after the hand-off: a worker blocked on both lists takes what was pushed first
    if not queues[queue] then
      queues[queue] = true
      if redis.call('SADD', NS .. ':queues', queue) == 1 then
        -- a new queue: workers waiting on every queue must start listening to it too
        push_tokens(NS .. ':wake', 1)
      end
    end
  end
end
local CHUNK = 2000 -- values per ZADD: well within what unpack() may return
for key, list in pairs(adds) do
  for i = 1, #list, CHUNK do
    redis.call('ZADD', key, unpack(list, i, math.min(i + CHUNK - 1, #list)))
  end
end
-- Scheduled jobs wake waiters too, so they shorten their wait to the new due time.
for queue, n in pairs(woken) do
  wake(queue, n)
end
return {1, deduplicated}
