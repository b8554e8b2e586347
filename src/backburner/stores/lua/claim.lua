-- Claim due jobs. ARGV: now, lease_until, worker_id, limit, then queue names (none: every
-- known queue). Returns each claimed job's fields as a flat HGETALL list.
local queues = nil
if #ARGV > 4 then
  queues = {unpack(ARGV, 5)}
end
return claim_jobs(ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), queues)
