-- Extend the leases still held. ARGV: lease_until, then job id, token pairs.
-- Returns {lost ids, ids of held jobs with cancel requested, then of those cancelled by
-- force: id, cancel_grace, id, cancel_grace...}.
local lease_until = ARGV[1]
if not all_finite(lease_until) then
  return malformed('heartbeat')
end
local lost, cancel, forced = {}, {}, {}
for i = 2, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local key = job_key(id)
  local f = redis.call('HMGET', key, 'status', 'token', 'cancel_requested', 'cancel_grace')
  if f[1] == 'running' and f[2] == token then
    redis.call('HSET', key, 'lease_until', lease_until)
    redis.call('ZADD', NS .. ':leases', lease_until, id)
    if f[3] == '1' then
      cancel[#cancel + 1] = id
    end
    if f[4] then
      forced[#forced + 1] = id
      forced[#forced + 1] = f[4]
    end
  else
    lost[#lost + 1] = id
  end
end
return {lost, cancel, forced}
