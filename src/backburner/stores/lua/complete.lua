-- Mark a held job succeeded. ARGV: id, token, now, has_result ('1'/'0'), result.
-- Returns 1, or 0 (changing nothing) when the token no longer holds the job.
if not all_finite(ARGV[2], ARGV[3]) then
  return malformed('complete')
end
if complete_job(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]) then
  return 1
end
return 0
