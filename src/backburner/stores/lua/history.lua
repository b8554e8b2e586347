-- The history of minutes from ARGV[1] on, summed into buckets of ARGV[2] seconds (60: one
-- a minute), on the server, so only the sums cross the network (read only). Returns
-- {"<bucket> <outcome> <queue>", count, ...} in no order.
local step = tonumber(ARGV[2])
local minutes = NS .. ':history'
local sums, order = {}, {}
for _, minute in ipairs(redis.call('ZRANGEBYSCORE', minutes, ARGV[1], '+inf')) do
  local bucket = string.format('%d', math.floor(tonumber(minute) / step) * step)
  local fields = redis.call('HGETALL', minutes .. ':' .. minute)
  for i = 1, #fields, 2 do
    local key = bucket .. ' ' .. fields[i]
    if sums[key] == nil then
      order[#order + 1] = key
      sums[key] = 0
    end
    sums[key] = sums[key] + tonumber(fields[i + 1])
  end
end
local out = {}
for _, key in ipairs(order) do
  out[#out + 1] = key
  out[#out + 1] = sums[key]
end
return out
