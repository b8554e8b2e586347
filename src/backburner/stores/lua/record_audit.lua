-- Add an audit entry (ARGV[1], its JSON without seq) under the next number of the log:
-- a member "<seq> <json>" scored by seq.
local seq = redis.call('INCR', NS .. ':audit:seq')
redis.call('ZADD', NS .. ':audit', seq, seq .. ' ' .. ARGV[1])
return seq
