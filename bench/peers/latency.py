# Peer of bench/programs/latency.gva (the convoy test, after Tools/ccbench's
# latency test) while CPU_THREADS threads spin:
#   SOURCE timer  the main thread sleeps until deadlines 0.5-1.5 ms apart (the
#                 same schedule); latency = it runs Python code again - the
#                 deadline.
#   SOURCE pipe   as ccbench: another process writes a timestamp on a pipe
#                 on the same schedule; the main thread blocks in os.read;
#                 latency = it runs Python code again - the timestamp
#                 (CLOCK_MONOTONIC is one clock for every process). The peer
#                 of bench/latency_feed.c.
#   python3 bench/peers/latency.py CPU_THREADS DURATION SWITCH_INTERVAL [SOURCE]
# Prints `events N` and `samples [...]` (seconds).
import os
import struct
import subprocess
import sys
import threading
import time

PERIODS = [0.0005, 0.0011, 0.0007, 0.0014, 0.0009, 0.0015,
           0.0006, 0.0010, 0.0013, 0.0008, 0.0012]


def spin(stop):
    x = 0
    while not stop[0]:
        x += 1
    return x


def io(duration):
    clock, sleep = time.monotonic, time.sleep
    samples = []
    k = 0
    end = clock() + duration
    while clock() < end:
        period = PERIODS[k % 11]
        deadline = clock() + period
        sleep(period)
        samples.append(clock() - deadline)
        k += 1
    return samples


WRITER = """
import os, struct, time
periods = %r
k = 0
while True:
    time.sleep(periods[k %% len(periods)])
    k += 1
    try:
        os.write(1, struct.pack("d", time.monotonic()))
    except OSError:
        break
""" % (PERIODS,)


def io_pipe(duration):
    clock = time.monotonic
    w = subprocess.Popen([sys.executable, "-c", WRITER], stdout=subprocess.PIPE)
    fd = w.stdout.fileno()
    samples = []
    os.read(fd, 8)  # wait until the writer is up: its start is not measured
    buf = b""
    end = clock() + duration
    while clock() < end:
        data = os.read(fd, 4096)
        now = clock()
        if not data:
            break
        buf += data
        while len(buf) >= 8:
            (t,) = struct.unpack("d", buf[:8])
            buf = buf[8:]
            samples.append(now - t)
    w.stdout.close()
    w.wait()
    return samples


def main():
    cpu = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    duration = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
    sys.setswitchinterval(float(sys.argv[3]) if len(sys.argv) > 3 else 0.005)
    stop = [False]
    ts = [threading.Thread(target=spin, args=(stop,)) for _ in range(cpu)]
    for t in ts:
        t.start()
    time.sleep(0.02)
    source = sys.argv[4] if len(sys.argv) > 4 else "timer"
    samples = io_pipe(duration) if source == "pipe" else io(duration)
    stop[0] = True
    for t in ts:
        t.join()
    print("events", len(samples))
    print("samples", samples)


main()
