-- Append lines to job logs: {p}:logs:<id>, a list whose item n (from 1) is line n.
-- ARGV: job id, line count, that many lines (JSON text), then the next job's. A job that
-- is not stored (purged meanwhile) gets none: its log went with it (see purge.lua).
local i = 1
while i <= #ARGV do
  local id, n = ARGV[i], tonumber(ARGV[i + 1])
  if n == nil or n < 0 then
    return redis.error_reply('append_logs: malformed arguments; nothing more was changed')
  end
  if redis.call('EXISTS', job_key(id)) == 1 then
    local key = NS .. ':logs:' .. id
    -- RPUSH in slices: unpack() of thousands of values overflows Lua's C stack
    for first = i + 2, i + 1 + n, 500 do
      redis.call('RPUSH', key, unpack(ARGV, first, math.min(first + 499, i + 1 + n)))
    end
  end
  i = i + 2 + n
end
return 0
