# Peer of bench/programs/loop.gva: while-loop sum of 0 .. 29,999,999.
#   python3 bench/peers/loop.py [N]   (default 30000000)
import sys


def main(n):
    i = 0
    total = 0
    while i < n:
        total += i
        i += 1
    print(total)


main(int(sys.argv[1]) if len(sys.argv) > 1 else 30000000)
