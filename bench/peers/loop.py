# Peer of bench/programs/loop.gva: while-loop sum of 0 .. 29,999,999.
def main():
    i = 0
    total = 0
    while i < 30000000:
        total += i
        i += 1
    print(total)


main()
