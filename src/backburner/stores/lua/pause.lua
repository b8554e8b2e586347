-- Pause (ARGV[1] '1') or resume ('0') queue ARGV[2]. A resume wakes the queue's waiters.
local paused, queue = NS .. ':paused', ARGV[2]
if ARGV[1] == '1' then
  redis.call('SADD', paused, queue)
elseif redis.call('SREM', paused, queue) == 1 then
  wake(queue, WAKE_CAP)
end
return 1
