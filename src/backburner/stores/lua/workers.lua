-- Drop workers whose last heartbeat is before ARGV[1]; return every remaining entry (JSON).
if not all_finite(ARGV[1]) then
  return malformed('workers')
end
local workers, beats = NS .. ':workers', NS .. ':beats'
local stale = redis.call('ZRANGEBYSCORE', beats, '-inf', '(' .. ARGV[1])
if #stale > 0 then
  redis.call('HDEL', workers, unpack(stale))
  redis.call('ZREM', beats, unpack(stale))
end
return redis.call('HVALS', workers)
