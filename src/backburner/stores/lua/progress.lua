-- Store progress (JSON) of a held job. ARGV: id, token, progress.
local f = redis.call('HMGET', job_key(ARGV[1]), 'status', 'token')
if f[1] ~= 'running' or f[2] ~= ARGV[2] then
  return 0
end
redis.call('HSET', job_key(ARGV[1]), 'progress', ARGV[3])
return 1
