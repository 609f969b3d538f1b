# Peer of bench/programs/fib.gva: recursive Fibonacci, fib(30) = 832040.
#   python3 bench/peers/fib.py [N]   (default 30)
import sys


def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


print(fib(int(sys.argv[1]) if len(sys.argv) > 1 else 30))
