-- Delete the history of minutes before ARGV[1] (a ZRANGEBYSCORE max such as "(1700000000"),
-- at most 1000 minutes per run. Returns how many points (queue and outcome) went.
local minutes = NS .. ':history'
local old = redis.call('ZRANGEBYSCORE', minutes, '-inf', ARGV[1], 'LIMIT', 0, 1000)
local pruned = 0
for _, minute in ipairs(old) do
  local key = minutes .. ':' .. minute
  pruned = pruned + redis.call('HLEN', key)
  redis.call('DEL', key)
  redis.call('ZREM', minutes, minute)
end
return {pruned, #old}
