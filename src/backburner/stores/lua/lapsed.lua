-- Running jobs whose lease lapsed before `now`, earliest lease first. ARGV: now, limit.
-- Returns each job's fields as a flat HGETALL list. Changes nothing but the lease index:
-- an entry whose job is no longer running is stale, and removed.
local now, limit = ARGV[1], tonumber(ARGV[2])
if not all_finite(now, limit) then
  return redis.error_reply('lapsed: malformed arguments')
end
local leases = NS .. ':leases'
local found = {}
while #found < limit do
  -- stale entries are removed below, so the next page starts after the live ones found
  local ids = redis.call('ZRANGEBYSCORE', leases, '-inf', '(' .. now, 'LIMIT', #found,
    limit - #found)
  if #ids == 0 then
    break
  end
  local stale = {}
  for _, id in ipairs(ids) do
    if redis.call('HGET', job_key(id), 'status') == 'running' then
      found[#found + 1] = redis.call('HGETALL', job_key(id))
    else
      stale[#stale + 1] = id
    end
  end
  if #stale > 0 then
    redis.call('ZREM', leases, unpack(stale))
  end
end
return found
