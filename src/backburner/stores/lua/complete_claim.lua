-- A busy worker's hot path in one round trip: complete a job, then claim the next ones.
-- ARGV: id, token, now, has_result, result (as complete.lua), then lease_until, worker_id,
-- limit and queue names (none: every known queue), as claim.lua.
-- Returns {1 or 0 (completed or not), claimed jobs as flat HGETALL lists}.
local done = complete_job(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]) and 1 or 0
local queues = nil
if #ARGV > 8 then
  queues = {unpack(ARGV, 9)}
end
return {done, claim_jobs(ARGV[3], ARGV[6], ARGV[7], tonumber(ARGV[8]), queues)}
