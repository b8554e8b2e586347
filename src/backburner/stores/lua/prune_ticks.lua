-- Delete ticks before ARGV[1], except each schedule's latest (at most 1000 per schedule
-- per run, so no run blocks Redis for long). Returns how many.
local before = ARGV[1]
if not all_finite(before) then
  return malformed('prune_ticks')
end
local pruned = 0
for _, schedule in ipairs(redis.call('SMEMBERS', NS .. ':schedules')) do
  local order = NS .. ':tickat:' .. schedule
  local old = math.min(redis.call('ZCOUNT', order, '-inf', '(' .. before),
    redis.call('ZCARD', order) - 1, 1000)
  if old > 0 then
    redis.call('HDEL', NS .. ':ticks:' .. schedule, unpack(redis.call('ZRANGE', order, 0, old - 1)))
    redis.call('ZREMRANGEBYRANK', order, 0, old - 1)
    pruned = pruned + old
  end
end
return pruned
