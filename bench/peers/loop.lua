-- Peer of bench/programs/loop.gva: while-loop sum of 0 .. 29,999,999.
--   lua5.4 bench/peers/loop.lua [N]   (default 30000000)
local n = math.tointeger(tonumber(arg[1])) or 30000000
local i, total = 0, 0
while i < n do
  total = total + i
  i = i + 1
end
print(total)
