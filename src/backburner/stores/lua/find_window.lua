-- The jobs with an enqueue sequence from ARGV[1] down to ARGV[2] (inclusive) that match a
-- dashboard filter, newest first (find_jobs and count_jobs on Redis; read only). A window
-- of sequence numbers: each job is in exactly one index set, so the window holds at most
-- that many jobs whatever the store holds.
-- ARGV: high, low, most (stop after this many matches), count_only ('1': return only how
-- many), the status of a pending job wanted ('scheduled', 'queued', or '' for any), now,
-- '1' and the task when filtered by task (else '0', ''), '1' and the text when searching
-- (else '0', ''), then the index sets to read, as status and queue pairs.
-- A search matches the id, or text in the task name or the arguments (plain,
-- case-sensitive). Returns {jobs examined, matches (ids, or their number), their seqs}.
local high, low, most = ARGV[1], ARGV[2], tonumber(ARGV[3])
local count_only, want, now = ARGV[4] == '1', ARGV[5], tonumber(ARGV[6])
local task = ARGV[7] == '1' and ARGV[8] or nil
local search = ARGV[9] == '1' and ARGV[10] or nil
local rows = {}
for i = 11, #ARGV, 2 do
  local found = redis.call('ZREVRANGEBYSCORE', idx_key(ARGV[i], ARGV[i + 1]), high, low,
    'WITHSCORES')
  for j = 1, #found, 2 do
    rows[#rows + 1] = {tonumber(found[j + 1]), found[j]}
  end
end
table.sort(rows, function(a, b) return a[1] > b[1] end)
local check = want ~= '' or task or search
local last = search and 'payload' or 'id'
local ids, seqs, examined = {}, {}, 0
for _, row in ipairs(rows) do
  if #seqs >= most then
    break
  end
  examined = examined + 1
  local id, ok = row[2], true
  if check then
    local f = redis.call('HMGET', job_key(id), 'task', 'run_at', 'status', last)
    ok = f[1] ~= false
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
  end
  if ok then
    seqs[#seqs + 1] = row[1]
    if not count_only then
      ids[#ids + 1] = id
    end
  end
end
return {examined, count_only and #seqs or ids, count_only and {} or seqs}
