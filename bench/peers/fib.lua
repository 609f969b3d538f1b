-- Peer of bench/programs/fib.gva: recursive Fibonacci, fib(30) = 832040.
--   lua5.4 bench/peers/fib.lua [N]   (default 30)
local function fib(n)
  if n < 2 then return n end
  return fib(n - 1) + fib(n - 2)
end

print(fib(tonumber(arg[1]) or 30))
