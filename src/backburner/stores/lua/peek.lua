-- Is work due? ARGV: '*' (every queue) or '-' then queue names.
-- Returns {number of ready jobs, earliest scheduled run_at or '', the queues looked at}.
local queues = {}
if ARGV[1] == '*' then
  queues = redis.call('SMEMBERS', NS .. ':queues')
else
  for i = 2, #ARGV do
    queues[#queues + 1] = ARGV[i]
  end
end
local ready, next_due = 0, nil
for _, queue in ipairs(queues) do
  ready = ready + redis.call('ZCARD', NS .. ':ready:' .. queue)
  local head = redis.call('ZRANGE', NS .. ':sched:' .. queue, 0, 0, 'WITHSCORES')
  if #head > 0 and (next_due == nil or tonumber(head[2]) < tonumber(next_due)) then
    next_due = head[2]
  end
end
return {ready, next_due or '', queues}
