-- Shared helpers, prepended to every script when it is loaded.
--
-- KEYS[1] is the namespace, "{prefix}". Every key a script touches is built as
-- KEYS[1] .. ":..." so all of them share one hash tag: on Redis Cluster they live in one
-- slot, the one KEYS[1] routes the script to. Scripts never call KEYS or SCAN.
--
-- Times arrive as strings formatted by Python (repr of a float) and are stored as given:
-- Lua would print numbers with 14 significant digits and lose sub-millisecond precision.
-- Each redis.call costs a few microseconds, so scripts read a job with one HMGET and
-- write it with one HSET.
local NS = KEYS[1]
local WAKE_CAP = 16 -- tokens kept per wake-up list: enough to rouse that many idle waiters

-- Whether every argument is a finite number as Python formats one. Lua's tonumber also
-- reads 'nan', 'inf' and '1e999': stored, such a time or priority leaves a job that no
-- claim ever takes. A script cannot take back a write, so each one that writes checks
-- its numbers with this before its first write, and answers `malformed(...)` if not.
local function all_finite(...)
  for i = 1, select('#', ...) do
    local n = tonumber((select(i, ...)))
    if n == nil or n ~= n or n == math.huge or n == -math.huge then
      return false
    end
  end
  return true
end

local function malformed(script)
  return redis.error_reply(script .. ': malformed arguments (a missing number, or one '
    .. 'that is not finite); nothing was changed')
end

local function job_key(id)
  return NS .. ':job:' .. id
end

-- The fields most scripts need, read at once into a table keyed by field name.
local JOB_FIELDS = {'status', 'token', 'queue', 'seq', 'priority', 'run_at', 'attempts',
  'max_attempts', 'cancel_requested', 'unique_key', 'has_dependents', 'concurrency',
  'concurrency_key', 'rate_limit', 'rate_period', 'rate_key'}
local function read_job(id)
  local values = redis.call('HMGET', job_key(id), unpack(JOB_FIELDS))
  local job = {}
  for i, name in ipairs(JOB_FIELDS) do
    job[name] = values[i]
  end
  return job
end

local function is_held(job, token)
  return job.status == 'running' and job.token == token
end

-- Jobs of one queue and status, scored by enqueue sequence (listing and counts).
local function idx_key(status, queue)
  return NS .. ':idx:' .. status .. ':' .. queue
end

local function reindex(id, job, from, to)
  redis.call('ZREM', idx_key(from, job.queue), id)
  redis.call('ZADD', idx_key(to, job.queue), job.seq, id)
end

-- A ready set is scored -priority; equal scores sort bytewise by member, so the member
-- starts with run_at (fixed width, clamped to keep the width) then the enqueue sequence.
-- It is a function of the job's fields, so it need not be stored to be removed.
local function ready_prefix(run_at)
  local at = math.min(math.max(tonumber(run_at), 0), 9999999999999)
  return string.format('%020.6f', at)
end
-- The member from `ready_prefix(run_at)`, for jobs sharing a run_at (a bulk enqueue):
-- string.format of a float is most of the cost of a member.
local function ready_member_after(prefix, seq, id)
  local digits = string.format('%d', tonumber(seq))
  return prefix .. string.rep('0', 16 - #digits) .. digits .. '|' .. id
end
local function ready_member(run_at, seq, id)
  return ready_member_after(ready_prefix(run_at), seq, id)
end

-- Direct hand-off (see redis.py). {p}:idlers holds the workers blocked waiting for work,
-- each registered by the peek script that found nothing to claim: hand id -> JSON
-- [until, lease seconds, worker id, its queues or '*' for every queue]. An enqueue may
-- give such a worker its job, claimed, on the list {p}:hand:<hand id>.
local IDLERS = NS .. ':idlers'

local function hand_key(hand)
  return NS .. ':hand:' .. hand
end

local function serves(entry, queue)
  if entry[4] == '*' then
    return true
  end
  for _, q in ipairs(entry[4]) do
    if q == queue then
      return true
    end
  end
  return false
end

-- The worker to hand a lone job of `queue` to, or nil: only when the job would be its
-- next claim anyway (due, without limits, its queue unpaused with nothing due in it), and
-- the worker still waits (registered, not past its `until`, not forgotten since). Taken
-- off {p}:idlers (one job per wait), with the waiters whose wait ended.
local function idler_for(queue, now)
  if redis.call('HLEN', IDLERS) == 0 or redis.call('SISMEMBER', NS .. ':paused', queue) == 1
      or redis.call('ZCARD', NS .. ':ready:' .. queue) > 0
      or #redis.call('ZRANGEBYSCORE', NS .. ':sched:' .. queue, '-inf', now, 'LIMIT', 0, 1) > 0
  then
    return nil
  end
  local all, found = redis.call('HGETALL', IDLERS), nil
  for i = 1, #all, 2 do
    local entry = cjson.decode(all[i + 1])
    if tonumber(entry[1]) <= tonumber(now) then
      redis.call('HDEL', IDLERS, all[i]) -- it stopped waiting
    elseif not found and serves(entry, queue) then
      redis.call('HDEL', IDLERS, all[i]) -- one job per wait
      found = {hand = all[i], lease = entry[2], worker = entry[3]}
    end
  end
  return found
end

-- Give job `id`, just stored claimed by `idler` (running, attempt 1, token 1, its worker
-- and `lease_until`), to that worker: its BLPOP takes the job whole, with no claim round
-- trip. Should the worker be gone, the list expires and the job's lease lapses: it is
-- rescued as after any claim.
local function hand_over(id, queue, seq, idler, lease_until)
  redis.call('ZADD', NS .. ':leases', lease_until, id)
  redis.call('ZADD', idx_key('running', queue), seq, id)
  local hand = hand_key(idler.hand)
  redis.call('RPUSH', hand, cjson.encode(redis.call('HGETALL', job_key(id))))
  redis.call('PEXPIRE', hand, math.ceil(tonumber(idler.lease) * 1000) + 60000)
end

-- Work became due in `queue` other than by a hand-off: the workers waiting on it no
-- longer know what their next claim would be, so none is handed a job until it has
-- claimed again (it is woken, or its next claim finds that work).
local function forget_idlers(queue)
  if redis.call('HLEN', IDLERS) == 0 then
    return
  end
  local all = redis.call('HGETALL', IDLERS)
  for i = 1, #all, 2 do
    if serves(cjson.decode(all[i + 1]), queue) then
      redis.call('HDEL', IDLERS, all[i])
    end
  end
end

-- Add up to `n` tokens to a wake-up list, never holding more than WAKE_CAP.
local function push_tokens(key, n)
  local room = WAKE_CAP - redis.call('LLEN', key)
  if room > 0 then
    local tokens = {}
    for i = 1, math.min(n, room) do
      tokens[i] = '1'
    end
    redis.call('LPUSH', key, unpack(tokens))
  end
end

-- Rouse up to `n` idle workers waiting on this queue (waiting on every queue included).
local function wake(queue, n)
  forget_idlers(queue)
  push_tokens(NS .. ':wake:' .. queue, n)
end

-- Put a pending job where claims look: its ready set when due, else the scheduled set
-- (which the claim script promotes from once due).
-- (Callers that make a job pending call wake() too, which forgets the queue's waiters; a
-- claim promoting due scheduled jobs need not: its waiters stopped waiting at that time.)
local function make_pending(id, queue, priority, run_at, seq, now)
  if tonumber(run_at) <= tonumber(now) then
    redis.call('ZADD', NS .. ':ready:' .. queue, -tonumber(priority),
      ready_member(run_at, seq, id))
  else
    redis.call('ZADD', NS .. ':sched:' .. queue, run_at, id)
  end
end

-- The job ended for good (the caller set its status): index it by finish time for purge
-- and free its unique_key, so a new job with that key may be enqueued.
local function finish(id, job, from, status, now)
  reindex(id, job, from, status)
  redis.call('ZADD', NS .. ':finished', now, id)
  local unique = NS .. ':unique'
  if job.unique_key and redis.call('HGET', unique, job.unique_key) == id then
    redis.call('HDEL', unique, job.unique_key)
  end
end

-- Flow control. The running jobs holding a concurrency key's slots are the set
-- holders:KEY; a rate key's sliding window is the sorted set rate:KEY of its starts,
-- scored by when each leaves the window. `counts` caches both per claim, keyed by
-- 'c' .. key and 'r' .. key.
local function holders_key(key)
  return NS .. ':holders:' .. key
end

local function rate_key(key)
  return NS .. ':rate:' .. key
end

-- Whether due job `job` (read_job) is within its limits as counted so far.
local function fits(job, now, counts)
  if job.concurrency then
    local c = 'c' .. job.concurrency_key
    counts[c] = counts[c] or redis.call('SCARD', holders_key(job.concurrency_key))
    if counts[c] >= tonumber(job.concurrency) then
      return false
    end
  end
  if job.rate_limit then
    local r = 'r' .. job.rate_key
    if counts[r] == nil then
      counts[r] = redis.call('ZCOUNT', rate_key(job.rate_key), '(' .. now, '+inf')
    end
    if counts[r] >= tonumber(job.rate_limit) then
      return false
    end
  end
  return true
end

-- A job `fits` let start: take its slot and count its start in its rate window.
local function take_slots(id, job, now, counts)
  if job.concurrency then
    local c = 'c' .. job.concurrency_key
    counts[c] = counts[c] + 1
    redis.call('SADD', holders_key(job.concurrency_key), id)
  end
  if job.rate_limit then
    local r = 'r' .. job.rate_key
    local window = rate_key(job.rate_key)
    local period = tonumber(job.rate_period)
    counts[r] = counts[r] + 1
    -- Starts a period past their window: claims run in the order they reach the server,
    -- not of their `now`, and one a little behind still needs the starts it would count.
    redis.call('ZREMRANGEBYSCORE', window, '-inf', tonumber(now) - period)
    redis.call('ZADD', window, tonumber(now) + period, id .. ':' .. job.token)
    redis.call('PEXPIRE', window, math.ceil(period * 1000) + 1000)
  end
end

-- An attempt of `job` ended, however: free its concurrency slot, and wake a waiter of its
-- queue, where jobs of its key may wait for that slot.
local function free_slot(id, job)
  if job.concurrency_key and redis.call('SREM', holders_key(job.concurrency_key), id) == 1 then
    wake(job.queue, 1)
  end
end

-- The queues of `queues` (nil: every known queue) that are not paused.
local function unpaused(queues)
  queues = queues or redis.call('SMEMBERS', NS .. ':queues')
  local paused = NS .. ':paused'
  if redis.call('SCARD', paused) == 0 then
    return queues
  end
  local open = {}
  for _, queue in ipairs(queues) do
    if redis.call('SISMEMBER', paused, queue) == 0 then
      open[#open + 1] = queue
    end
  end
  return open
end

-- Take up to `limit` due jobs from `queues` (nil: every known queue; paused ones left
-- out): highest priority, then earliest run_at, then enqueue order, passing over jobs
-- over a limit (at most PASS_OVER of them per claim). Returns each job's fields as a flat
-- list.
local PROMOTE = 1000 -- due scheduled jobs moved per queue per claim; the rest next time
local PASS_OVER = 1000
local function claim_jobs(now, lease_until, worker, limit, queues)
  queues = unpaused(queues)
  for _, queue in ipairs(queues) do
    local sched = NS .. ':sched:' .. queue
    local due = redis.call('ZRANGEBYSCORE', sched, '-inf', now, 'LIMIT', 0, PROMOTE)
    for _, id in ipairs(due) do
      local f = redis.call('HMGET', job_key(id), 'priority', 'run_at', 'seq')
      if f[1] then
        make_pending(id, queue, f[1], f[2], f[3], now)
      end
    end
    if #due > 0 then
      redis.call('ZREM', sched, unpack(due))
    end
  end

  -- Rounds: the next `limit` ready jobs of each queue, in claim order. A round that passed
  -- over a job (over a limit) is followed by another, further down the ready sets and
  -- larger (as many as were passed over so far).
  local claimed, taken, counts = {}, {}, {}
  local offsets, passed = {}, 0
  while #claimed < limit and passed < PASS_OVER do
    local candidates, more = {}, false
    for _, queue in ipairs(queues) do
      local from, size = offsets[queue] or 0, math.max(limit, passed)
      local head = redis.call('ZRANGE', NS .. ':ready:' .. queue, from, from + size - 1,
        'WITHSCORES')
      offsets[queue] = from + #head / 2
      more = more or #head == 2 * size
      for i = 1, #head, 2 do
        local member = head[i]
        candidates[#candidates + 1] = {
          queue = queue,
          member = member,
          score = tonumber(head[i + 1]),
          run_at = tonumber(string.sub(member, 1, 20)),
          seq = tonumber(string.sub(member, 21, 36)),
        }
      end
    end

    -- Numbers, not strings, are compared: Lua compares strings with the server's locale.
    if #queues > 1 then
      table.sort(candidates, function(a, b)
        if a.score ~= b.score then
          return a.score < b.score
        end
        if a.run_at ~= b.run_at then
          return a.run_at < b.run_at
        end
        return a.seq < b.seq
      end)
    end

    local passed_before = passed
    for i = 1, #candidates do
      if #claimed >= limit then
        break
      end
      local c = candidates[i]
      local id = string.sub(c.member, string.find(c.member, '|', 1, true) + 1)
      local key = job_key(id)
      local job = read_job(id)
      local limited = job.concurrency or job.rate_limit
      if job.status == 'queued' and limited and not fits(job, now, counts) then
        passed = passed + 1 -- it waits in its ready set for a slot
      else
        taken[c.queue] = taken[c.queue] or {}
        table.insert(taken[c.queue], c.member)
        if job.status == 'queued' then
          job.token = tonumber(job.token) + 1
          if limited then
            take_slots(id, job, now, counts)
          end
          redis.call('HSET', key, 'status', 'running', 'attempts',
            tonumber(job.attempts) + 1, 'token', job.token, 'worker_id', worker,
            'lease_until', lease_until, 'started_at', now)
          redis.call('ZADD', NS .. ':leases', lease_until, id)
          reindex(id, job, 'queued', 'running')
          claimed[#claimed + 1] = redis.call('HGETALL', key)
        end
      end
    end
    if passed == passed_before or not more then
      break
    end
  end
  for queue, members in pairs(taken) do
    redis.call('ZREM', NS .. ':ready:' .. queue, unpack(members))
  end
  return claimed
end

-- Dependencies (see backburner/stores/deps.py). {p}:deps:<id> is the set of jobs that
-- depend on <id> (and its hash has has_dependents = 1 once there is one); a job's hash keeps its own list (depends_on, JSON) and waiting_for, how
-- many of them have not succeeded yet. A success lowers waiting_for of every dependent
-- (whatever its status, so the count stays true); a 'waiting' job left with 0 is queued.
local function deps_key(id)
  return NS .. ':deps:' .. id
end

-- The words of deps.reason(): why a job was cancelled for its dependency.
local DEPENDENCY_FAILED = 'DependencyFailed'
local function dependency_reason(dep, status)
  local verb = status == 'failed' and 'failed' or 'was cancelled'
  return DEPENDENCY_FAILED .. ': dependency ' .. dep .. ' ' .. verb .. '; retry it '
    .. '(backburner retry APP ' .. dep .. ') and this job waits for it again'
end

-- `id` succeeded: one dependency fewer for each dependent; a waiting one left with none
-- is queued now, and a worker woken for it.
local function release(id, now)
  for _, d in ipairs(redis.call('SMEMBERS', deps_key(id))) do
    local job = read_job(d)
    if job.status then
      local key = job_key(d)
      local left = redis.call('HINCRBY', key, 'waiting_for', -1)
      if left <= 0 and job.status == 'waiting' then
        redis.call('HSET', key, 'status', 'queued')
        reindex(d, job, 'waiting', 'queued')
        make_pending(d, job.queue, job.priority, job.run_at, job.seq, now)
        wake(job.queue, 1)
      end
    end
  end
end

-- `id` ended `status` ('failed' or 'cancelled'): cancel its waiting dependents, theirs in
-- turn and so on, each with the reason naming the dependency it lost.
local function doom(id, status, now)
  local frontier = {{id, status}}
  while #frontier > 0 do
    local after = {}
    for _, cause in ipairs(frontier) do
      for _, d in ipairs(redis.call('SMEMBERS', deps_key(cause[1]))) do
        local job = read_job(d)
        if job.status == 'waiting' then
          redis.call('HSET', job_key(d), 'status', 'cancelled', 'finished_at', now,
            'error', dependency_reason(cause[1], cause[2]))
          finish(d, job, 'waiting', 'cancelled', now)
          after[#after + 1] = {d, 'cancelled'}
        end
      end
    end
    frontier = after
  end
end

-- Whether a stored job ended failed or cancelled.
local function ended_badly(id)
  local status = redis.call('HGET', job_key(id), 'status')
  return status == 'failed' or status == 'cancelled'
end

-- `id` was retried by hand: the jobs below it cancelled for a dependency wait again,
-- transitively, unless another of their dependencies failed or was cancelled.
local function revive(id)
  local frontier = {id}
  while #frontier > 0 do
    local after = {}
    for _, cause in ipairs(frontier) do
      for _, d in ipairs(redis.call('SMEMBERS', deps_key(cause))) do
        local job = read_job(d)
        local f = redis.call('HMGET', job_key(d), 'error', 'depends_on')
        local lost = false
        if job.status == 'cancelled' and f[1]
            and string.sub(f[1], 1, #DEPENDENCY_FAILED + 1) == DEPENDENCY_FAILED .. ':' then
          for _, dep in ipairs(cjson.decode(f[2] or '[]')) do
            lost = lost or ended_badly(dep)
          end
          if job.unique_key then -- another live job took its unique_key: it stays cancelled
            local holder = redis.call('HGET', NS .. ':unique', job.unique_key)
            if holder and holder ~= d then
              local held = redis.call('HGET', job_key(holder), 'status')
              lost = lost or held == 'waiting' or held == 'queued' or held == 'running'
            end
          end
          if not lost then
            redis.call('HSET', job_key(d), 'status', 'waiting')
            redis.call('HDEL', job_key(d), 'finished_at', 'error')
            redis.call('ZREM', NS .. ':finished', d)
            reindex(d, job, 'cancelled', 'waiting')
            if job.unique_key then
              redis.call('HSET', NS .. ':unique', job.unique_key, d)
            end
            after[#after + 1] = d
          end
        end
      end
    end
    frontier = after
  end
end

-- Whether a dependent of `id` has not finished (it may need its result: purge keeps it).
local function needed(id)
  for _, d in ipairs(redis.call('SMEMBERS', deps_key(id))) do
    local status = redis.call('HGET', job_key(d), 'status')
    if status == 'waiting' or status == 'queued' or status == 'running' then
      return true
    end
  end
  return false
end

-- Mark a held job succeeded; false (changing nothing) when `token` no longer holds it.
local function complete_job(id, token, now, has_result, result)
  local job = read_job(id)
  if not is_held(job, token) then
    return false
  end
  local key = job_key(id)
  if has_result == '1' then
    redis.call('HSET', key, 'status', 'succeeded', 'finished_at', now, 'result', result)
    redis.call('HDEL', key, 'lease_until')
  else
    redis.call('HSET', key, 'status', 'succeeded', 'finished_at', now)
    redis.call('HDEL', key, 'lease_until', 'result')
  end
  redis.call('ZREM', NS .. ':leases', id)
  free_slot(id, job)
  finish(id, job, 'running', 'succeeded', now)
  if job.has_dependents then -- read with the job: a job without any costs no call here
    release(id, now)
  end
  return true
end
