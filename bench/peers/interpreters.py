# Peer of bench/programs/interpreters.gva: a countdown of N split over
# WORKERS subinterpreters with their own GIL, over WORKERS threads, or in one
# thread (MODE seq, threads, interps).
#   python3 bench/peers/interpreters.py N WORKERS MODE
# Prints `elapsed SECONDS`, or `skipped: ...` where this python3 has no
# subinterpreters with their own GIL from Python code (concurrent.interpreters,
# 3.14; 3.12 and 3.13 have them only through private modules, not used here).
import sys
import threading
import time


def count(n):
    while n > 0:
        n -= 1


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000000
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    mode = sys.argv[3] if len(sys.argv) > 3 else "interps"
    interpreters = None
    if mode == "interps":
        try:
            from concurrent import interpreters
        except ImportError:
            print("skipped: python3 %d.%d has no concurrent.interpreters (3.14+)" % sys.version_info[:2])
            return
    t0 = time.monotonic()
    if mode == "seq":
        count(n)
    elif mode == "threads":
        ts = [threading.Thread(target=count, args=(n // workers,)) for _ in range(workers)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    else:
        interps = [interpreters.create() for _ in range(workers)]
        ts = [i.call_in_thread(count, n // workers) for i in interps]
        for t in ts:
            t.join()
        for i in interps:
            i.close()
    print("elapsed", time.monotonic() - t0)


if __name__ == "__main__":
    main()
