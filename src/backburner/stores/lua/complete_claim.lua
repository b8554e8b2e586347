-- A busy worker's hot path in one round trip: record a batch of succeeded jobs, then
-- claim the next ones.
-- Claims alone run it with n = 0.
-- ARGV: now, n, then n times (id, token, has_result, result) as complete.lua, then
-- lease_until, worker_id, limit (0: claim nothing) and queue names (none: every known
-- queue).
-- Returns {accepted flags (1 or 0 per job), claimed jobs as flat HGETALL lists}.
local now, n = ARGV[1], tonumber(ARGV[2])
if not all_finite(now, n) or n < 0 or #ARGV < 5 + n * 4
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
local limit = tonumber(ARGV[rest + 2])
if limit <= 0 then
  return {accepted, {}}
end
local queues = nil
if #ARGV > rest + 2 then
  queues = {unpack(ARGV, rest + 3)}
end
return {accepted, claim_jobs(now, ARGV[rest], ARGV[rest + 1], limit, queues)}
