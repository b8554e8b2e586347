-- Delete finished jobs in the given statuses that finished before the cutoff, one batch.
-- ARGV: cutoff (a ZRANGEBYSCORE max, e.g. "(1700000000.5" or "+inf"), offset, batch,
-- statuses... Returns {jobs deleted, index entries removed, entries examined}; the caller
-- moves `offset` past the entries it kept.
local cutoff, offset, batch = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
if not all_finite(offset, batch) then
  return malformed('purge')
end
local wanted = {}
for i = 4, #ARGV do
  wanted[ARGV[i]] = true
end
local finished = NS .. ':finished'
local ids = redis.call('ZRANGEBYSCORE', finished, '-inf', cutoff, 'LIMIT', offset, batch)
local deleted, removed = 0, 0
for _, id in ipairs(ids) do
  local key = job_key(id)
  local f = redis.call('HMGET', key, 'status', 'queue')
  if not f[1] or f[1] == 'queued' or f[1] == 'running' or f[1] == 'waiting' then
    -- not finished any more (retried) or gone: only the index entry goes
    redis.call('ZREM', finished, id)
    removed = removed + 1
  elseif wanted[f[1]] and not needed(id) then
    redis.call('DEL', key, deps_key(id), NS .. ':logs:' .. id)
    redis.call('ZREM', finished, id)
    redis.call('ZREM', idx_key(f[1], f[2]), id)
    deleted = deleted + 1
    removed = removed + 1
  end
end
return {deleted, removed, #ids}
