# Peer of bench/programs/throughput.gva (after Tools/ccbench's throughput
# test): fib(15) over and over for DURATION seconds in THREADS threads.
#   python3 bench/peers/throughput.py THREADS DURATION
# Prints `tasks N` and `elapsed SECONDS`.
import sys
import threading
import time


def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


def worker(deadline, out):
    done = 0
    while time.monotonic() < deadline:
        fib(15)
        done += 1
    out.append(done)


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    duration = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
    t0 = time.monotonic()
    deadline = t0 + duration
    out = []
    if threads <= 1:
        worker(deadline, out)
    else:
        ts = [threading.Thread(target=worker, args=(deadline, out)) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    print("tasks", sum(out))
    print("elapsed", time.monotonic() - t0)


main()
