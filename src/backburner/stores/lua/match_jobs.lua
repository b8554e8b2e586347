-- Which of the jobs ARGV[7..] match a dashboard filter's unindexed fields (find_jobs and
-- count_jobs on Redis; read only). ARGV: status wanted of a pending job ('scheduled',
-- 'queued', or '' for any), now, '1' and the task when filtered by task (else '0', ''),
-- '1' and the text when searching (else '0', ''). A search matches the id, or text in the
-- task name or the arguments (plain, case-sensitive). Returns the ids that match, in order.
local want, now = ARGV[1], tonumber(ARGV[2])
local task = ARGV[3] == '1' and ARGV[4] or nil
local search = ARGV[5] == '1' and ARGV[6] or nil
local last = search and 'payload' or 'id'
local found = {}
for i = 7, #ARGV do
  local id = ARGV[i]
  local f = redis.call('HMGET', job_key(id), 'task', 'run_at', 'status', last)
  local ok = f[1] ~= false -- false: deleted since the index was read
  if ok and want ~= '' then
    ok = f[3] == 'queued' and ((tonumber(f[2]) > now) == (want == 'scheduled'))
  end
  if ok and task then
    ok = f[1] == task
  end
  if ok and search then
    ok = id == search or string.find(f[1], search, 1, true) ~= nil
      or string.find(f[4], search, 1, true) ~= nil
  end
  if ok then
    found[#found + 1] = id
  end
end
return found
