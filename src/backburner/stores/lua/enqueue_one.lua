-- Store one plain job: the common `delay()`, without unique_key, dependencies or limits
-- (enqueue.lua stores every other batch). It writes what enqueue.lua writes for such a
-- job, field for field and index for index (tests/test_redis_enqueue.py compares them),
-- with less Lua work: no shapes, no batch loops, fewer arguments. Redis runs a script's
-- whole text on every call, so this is the one `delay()` pays for.
-- ARGV: now, id, payload, task, queue, priority, run_at, created_at, max_attempts,
-- retry_backoff, timeout ('' for none), trace_context ('' for none).
-- Returns {1, {}} once stored, or {0, {id}} having written nothing when the id is taken,
-- as enqueue.lua does.
local now, id, payload, task, queue, priority, run_at, created_at, max_attempts,
  retry_backoff, timeout, trace_context = unpack(ARGV, 1, 12)
if #ARGV ~= 12
    or not all_finite(now, priority, run_at, created_at, max_attempts, retry_backoff)
    or not (timeout == '' or all_finite(timeout)) then
  return malformed('enqueue_one')
end
local key = job_key(id)
if redis.call('EXISTS', key) == 1 then
  return {0, {id}}
end
local seq = redis.call('INCR', NS .. ':seq')
local due = tonumber(run_at) <= tonumber(now)
local idling = redis.call('HLEN', IDLERS) > 0
local idler = due and idling and idler_for(queue, now)

local fields = {'id', id, 'task', task, 'queue', queue, 'payload', payload,
  'priority', priority, 'status', 'queued', 'run_at', run_at, 'created_at', created_at,
  'max_attempts', max_attempts, 'retry_backoff', retry_backoff, 'attempts', 0, 'token', 0,
  'failures', '[]', 'cancel_requested', 0, 'seq', seq, 'waiting_for', 0}
local lease_until
if idler then -- claimed here, as claim_jobs would
  lease_until = string.format('%.6f', tonumber(now) + tonumber(idler.lease))
  fields[12], fields[22], fields[24] = 'running', 1, 1 -- status, attempts, token
  for _, v in ipairs({'worker_id', idler.worker, 'lease_until', lease_until,
      'started_at', now}) do
    fields[#fields + 1] = v
  end
end
if trace_context ~= '' then
  fields[#fields + 1] = 'trace_context'
  fields[#fields + 1] = trace_context
end
if timeout ~= '' then
  fields[#fields + 1] = 'timeout'
  fields[#fields + 1] = timeout
end
redis.call('HSET', key, unpack(fields))

if idler then
  hand_over(id, queue, seq, idler, lease_until)
else
  redis.call('ZADD', idx_key('queued', queue), seq, id)
  make_pending(id, queue, priority, run_at, seq, now)
end
-- after the hand-off: a worker blocked on both lists takes what was pushed first
if redis.call('SADD', NS .. ':queues', queue) == 1 then
  push_tokens(NS .. ':wake', 1) -- a new queue: workers waiting on every queue listen to it
end
if not idler then -- wake(queue, 1), without asking again whether anyone waits
  if idling then
    forget_idlers(queue)
  end
  push_tokens(NS .. ':wake:' .. queue, 1)
end
return {1, {}}
