-- Peer of bench/programs/loop.gva: while-loop sum of 0 .. 29,999,999.
local i, total = 0, 0
while i < 30000000 do
  total = total + i
  i = i + 1
end
print(total)
