-- A busy worker's hot path in one round trip: record a batch of succeeded jobs, then
-- claim the next ones.
-- Claims alone run it with n = 0.
-- ARGV: now, n, then n times (id, token, has_result, result) as complete.lua, then
-- lease_until, worker_id, limit (0: claim nothing), the caller's hand id if it may still
-- be registered as waiting ('' if not) and queue names (none: every known queue).
-- A registered caller stops being one, and the jobs an enqueue handed it meanwhile (still
-- its attempt) come first among those claimed.
-- Returns {accepted flags (1 or 0 per job), claimed jobs as flat HGETALL lists}.
local now, n = ARGV[1], tonumber(ARGV[2])
if not all_finite(now, n) or n < 0 or #ARGV < 6 + n * 4
    or not all_finite(ARGV[3 + n * 4], ARGV[5 + n * 4]) then
  return malformed('complete_claim')
end
for i = 0, n - 1 do
  if not all_finite(ARGV[4 + i * 4]) then
    return malformed('complete_claim')
  end
end
local accepted = {}
for i = 0, n - 1 do
  local at = 3 + i * 4
  accepted[i + 1] = complete_job(ARGV[at], ARGV[at + 1], now, ARGV[at + 2], ARGV[at + 3])
    and 1 or 0
end
local rest = 3 + n * 4
local limit, hand = tonumber(ARGV[rest + 2]), ARGV[rest + 3]
local claimed = {}
if hand ~= '' then
  redis.call('HDEL', IDLERS, hand)
  local key = hand_key(hand)
  for _, item in ipairs(redis.call('LRANGE', key, 0, -1)) do
    local fields, f = cjson.decode(item), {}
    for i = 1, #fields, 2 do
      f[fields[i]] = fields[i + 1]
    end
    local now_held = redis.call('HMGET', job_key(f.id), 'status', 'token')
    if now_held[1] == 'running' and now_held[2] == f.token then
      claimed[#claimed + 1] = redis.call('HGETALL', job_key(f.id))
    end
  end
  redis.call('DEL', key)
end
limit = limit - #claimed
if limit <= 0 then
  return {accepted, claimed}
end
local queues = nil
if #ARGV > rest + 3 then
  queues = {unpack(ARGV, rest + 4)}
end
for _, job in ipairs(claim_jobs(now, ARGV[rest], ARGV[rest + 1], limit, queues)) do
  claimed[#claimed + 1] = job
end
return {accepted, claimed}
