-- Record a failed attempt of a held job. ARGV: id, token, now, error, failure JSON tail,
-- retry_at ('' for none). Returns 1, or 0 when the token no longer holds the job.
local id, token = ARGV[1], ARGV[2]
local job = read_job(id)
if not is_held(job, token) then
  return 0
end
end_attempt(id, job, ARGV[3], ARGV[4], ARGV[5], ARGV[6])
return 1
