-- Extend the leases still held. ARGV: lease_until, then job id, token pairs.
-- Returns {lost ids, ids of held jobs with cancel requested}.
local lease_until = ARGV[1]
if not all_finite(lease_until) then
  return malformed('heartbeat')
end
local lost, cancel = {}, {}
for i = 2, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local key = job_key(id)
  local f = redis.call('HMGET', key, 'status', 'token', 'cancel_requested')
  if f[1] == 'running' and f[2] == token then
    redis.call('HSET', key, 'lease_until', lease_until)
    redis.call('ZADD', NS .. ':leases', lease_until, id)
    if f[3] == '1' then
      cancel[#cancel + 1] = id
    end
  else
    lost[#lost + 1] = id
  end
end
return {lost, cancel}
