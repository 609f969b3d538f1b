# Peer of bench/programs/pingpong.gva: two threads hand a token back and forth
# through two queues, ROUND_TRIPS times; the main thread times each round trip.
#   python3 bench/peers/pingpong.py [ROUND_TRIPS] [KIND]
# KIND: simplequeue (default; queue.SimpleQueue is written in C like gilvm's
# queues), queue (queue.Queue: pure Python over a Condition) or lock (two
# threading.Lock objects used as binary semaphores).
# Prints `round_trips N`, `elapsed SECONDS`, `samples [...]` (seconds).
import queue
import sys
import threading
import time


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    kind = sys.argv[2] if len(sys.argv) > 2 else "simplequeue"
    clock = time.monotonic
    samples = []
    if kind == "lock":
        ping, pong = threading.Lock(), threading.Lock()
        ping.acquire()
        pong.acquire()

        def other():
            for _ in range(n):
                ping.acquire()
                pong.release()

        t = threading.Thread(target=other)
        t.start()
        start = clock()
        for _ in range(n):
            t0 = clock()
            ping.release()
            pong.acquire()
            samples.append(clock() - t0)
    else:
        make = queue.SimpleQueue if kind == "simplequeue" else queue.Queue
        ping, pong = make(), make()

        def other():
            for _ in range(n):
                pong.put(ping.get())

        t = threading.Thread(target=other)
        t.start()
        start = clock()
        for i in range(n):
            t0 = clock()
            ping.put(i)
            pong.get()
            samples.append(clock() - t0)
    elapsed = clock() - start
    t.join()
    print("round_trips", n)
    print("elapsed", elapsed)
    print("samples", samples)


main()
