# Peer of bench/programs/countdown.gva: Beazley's countdown, N in the main
# thread alone (THREADS = 1) or N // THREADS in each of THREADS threads.
#   python3 bench/peers/countdown.py N THREADS SWITCH_INTERVAL
# Prints `elapsed SECONDS`.
import sys
import threading
import time


def count(n):
    while n > 0:
        n -= 1


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000000
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    sys.setswitchinterval(float(sys.argv[3]) if len(sys.argv) > 3 else 0.005)
    t0 = time.monotonic()
    if threads <= 1:
        count(n)
    else:
        ts = [threading.Thread(target=count, args=(n // threads,)) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    print("elapsed", time.monotonic() - t0)


main()
