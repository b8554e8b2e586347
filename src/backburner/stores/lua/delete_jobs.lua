-- Delete the jobs ARGV names where finished, with their logs and dependency set, except
-- one a dependent that has not finished may still need (as purge.lua). Returns how many.
local deleted = 0
for _, id in ipairs(ARGV) do
  local key = job_key(id)
  local f = redis.call('HMGET', key, 'status', 'queue')
  if (f[1] == 'succeeded' or f[1] == 'failed' or f[1] == 'cancelled') and not needed(id) then
    redis.call('DEL', key, deps_key(id), NS .. ':logs:' .. id)
    redis.call('ZREM', NS .. ':finished', id)
    redis.call('ZREM', idx_key(f[1], f[2]), id)
    deleted = deleted + 1
  end
end
return deleted
