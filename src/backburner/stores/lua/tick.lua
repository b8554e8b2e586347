-- Store a tick of a schedule and, with a job, the job: both or neither (Store.enqueue_tick).
-- Loaded with enqueue.lua's body as the function enqueue_jobs() (see redis_conn.WRAPS).
-- ARGV: schedule, at, head (the tick's JSON up to its job_id value), definition,
-- generation, carried job id ('' for none), has_job ('1'/'0'); with a job, enqueue.lua's
-- ARGV follows (now, then the job's fields). Returns 1 if stored, 0 if not.
--   {p}:ticks:<schedule>   hash: tick time -> the tick as JSON
--   {p}:tickat:<schedule>  zset: tick times, for the latest one and for pruning
--   {p}:schedules          set: every schedule that ticked, for pruning
local schedule, at, head, definition, generation, carried, has_job = unpack(ARGV, 1, 7)
if not all_finite(at, generation) or (has_job ~= '0' and has_job ~= '1') then
  return malformed('tick')
end
local rows = NS .. ':ticks:' .. schedule
local order = NS .. ':tickat:' .. schedule
if redis.call('HEXISTS', rows, at) == 1 then
  return 0
end
local latest = redis.call('ZRANGE', order, -1, -1)
if latest[1] then
  local last = cjson.decode(redis.call('HGET', rows, latest[1]))
  if last.definition ~= definition and last.generation > tonumber(generation) then
    return 0 -- a newer deploy defines this schedule otherwise
  end
end
local job_id = carried
if has_job == '1' then
  for _ = 1, 7 do
    table.remove(ARGV, 1)
  end
  -- enqueue.lua's ARGV: now, the number of shapes (1), the shape, then the job's id
  local record_id = ARGV[3 + tonumber(ARGV[2]) * 17] -- 17 fields a shape
  local result = enqueue_jobs() -- checks its arguments before its first write
  if result.err then
    return result
  end
  if result[1] ~= 1 then
    return redis.error_reply('tick: job id already stored; nothing was changed')
  end
  -- {1, {}} stored it; {1, {1, live id}}: a live job holds the record's unique_key
  job_id = result[2][2] or record_id
  if job_id == record_id then -- not a live job holding the record's unique_key
    redis.call('HSET', job_key(job_id), 'schedule', schedule, 'scheduled_for', at)
  end
end
redis.call('HSET', rows, at, head .. (job_id == '' and 'null' or cjson.encode(job_id)) .. '}')
redis.call('ZADD', order, at, at)
redis.call('SADD', NS .. ':schedules', schedule)
return 1
