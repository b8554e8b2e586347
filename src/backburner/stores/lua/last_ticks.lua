-- The latest tick of each schedule in ARGV, as JSON ('' for a schedule without one).
local found = {}
for i, schedule in ipairs(ARGV) do
  local latest = redis.call('ZRANGE', NS .. ':tickat:' .. schedule, -1, -1)
  found[i] = latest[1] and redis.call('HGET', NS .. ':ticks:' .. schedule, latest[1]) or ''
end
return found
