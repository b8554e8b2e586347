-- The history of minutes at or after ARGV[1] (a ZRANGEBYSCORE min), summed per ARGV[2]
-- seconds (read only): one round trip however many minutes a day holds, where reading
-- each minute's hash from Python took one reply per minute. Returns a flat list: step
-- start (the first minute's member text when the step is 60), queue, outcome, count.
local minutes = NS .. ':history'
local step = tonumber(ARGV[2])
local sums, order = {}, {}
for _, minute in ipairs(redis.call('ZRANGEBYSCORE', minutes, ARGV[1], '+inf')) do
  local start = minute
  if step ~= 60 then
    start = string.format('%d', math.floor(tonumber(minute) / step) * step)
  end
  local counts = redis.call('HGETALL', minutes .. ':' .. minute)
  for i = 1, #counts, 2 do
    local key = start .. ' ' .. counts[i] -- "<start> <outcome> <queue>"
    if sums[key] == nil then
      sums[key] = 0
      order[#order + 1] = key
    end
    sums[key] = sums[key] + tonumber(counts[i + 1])
  end
end
local out = {}
for _, key in ipairs(order) do
  out[#out + 1] = key
  out[#out + 1] = sums[key]
end
return out
