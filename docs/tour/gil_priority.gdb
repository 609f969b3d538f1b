# Tour: the GIL handed over in priority mode (docs/tour/gil_priority.md).
# Run from the source root:
#   gdb -batch -nx -x docs/tour/gil_priority.gdb --args build-debug/gilvm run --gil=priority docs/tour/gil_priority.gva
# Each stop enables the next one, so the places come in the page's order.
source docs/tour/common.gdb

# 1. worker is back from sleep() (a blocking wait): take_handoff queues it
#    in the priority queue, and gv_gil_fifo_wait asks the holder at once.
break gv_gil_request_drop if gil->prio_head == ts
commands 1
  silent
  printf "TOUR-STOP 1: gv_gil_request_drop (a waiter back from a wait asks at once)\n"
  tour_tid waiter ts
  tour_tid holder gil->holder
  tour_bits holder.eval_breaker(before) gil->holder->eval_breaker
  tour_gil gil
  tour_int from_queue_and_wait $_caller_is("gv_gil_fifo_wait")
  disable 1
  enable 2
  tour_next
end

# 2. The holder (main) meets the request at its loop's backward jump; it
#    has had its minimum slice (GV_GIL_MIN_SLICE_NS), so it yields.
break gv_gil_yield
commands 2
  silent
  printf "TOUR-STOP 2: gv_gil_yield (the holder noticed at a safe point)\n"
  tour_tid thread ts
  tour_bits eval_breaker ts->eval_breaker
  tour_frames frames ts
  tour_int had_min_slice gv_now_ns()-ts->gil_since>=20000
  disable 2
  enable 3
  tour_next
end

# 3. gv_gil_priority_yield_handoff: the holder picks its successor itself, nobody races.
break gv_gil_fifo_hand_over
commands 3
  silent
  printf "TOUR-STOP 3: gv_gil_fifo_hand_over (the holder grants the GIL)\n"
  tour_int from_yield_handoff $_caller_is("gv_gil_priority_yield_handoff")
  tour_gil gil
  disable 3
  enable 4
  tour_next
end

# 4. The head of the priority queue becomes the holder.
break gv_gil_make_holder if $_caller_is("gv_gil_fifo_hand_over")
commands 4
  silent
  printf "TOUR-STOP 4: gv_gil_make_holder (the waiter is the holder now)\n"
  tour_tid new_holder ts
  tour_tid old_holder gil->holder
  disable 4
  enable 5
  tour_next
end

# 5. worker wakes in gv_gil_fifo_wait, granted, and gv_gil_fifo_took() settles the take;
#    main has queued itself in the normal queue meanwhile.
break gv_gil_fifo_took
commands 5
  silent
  printf "TOUR-STOP 5: gv_gil_fifo_took (the waiter wakes holding the GIL)\n"
  tour_tid thread ts
  tour_int gil_granted ts->gil_granted
  tour_gil gil
  disable 5
  tour_next
end

disable 2 3 4 5
run
tour_end
