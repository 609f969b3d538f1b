# Tour: the GIL handed over in classic mode (docs/tour/gil_classic.md).
# Run from the source root:
#   gdb -batch -nx -x docs/tour/gil_classic.gdb --args build-debug/gilvm run --gil=classic docs/tour/gil_classic.gva
# Each stop enables the next one, so the places come in the page's order.
source docs/tour/common.gdb

# 1. The waiter (worker) timed out after a whole switch interval without a
#    switch: take_classic sets the drop request in the holder's eval breaker
#    (through gv_gil_request_drop, where every request is counted).
break gv_eb_set if bits == 1 && $_any_caller_is("take_classic", 2)
commands 1
  silent
  printf "TOUR-STOP 1: take_classic sets GIL_DROP_REQUEST in the holder\n"
  tour_tid holder ts
  tour_bits holder.eval_breaker(before) ts->eval_breaker
  up-silently
  tour_tid waiter ts
  tour_gil gil
  tour_int gil.switch_number gil->switch_number
  disable 1
  enable 2
  tour_next
end

# 2. The holder (main) meets the request at a safe point, its loop's backward
#    jump: handle_eval_breaker -> gv_breaker_handle -> gv_gil_yield.
break gv_gil_yield
commands 2
  silent
  printf "TOUR-STOP 2: gv_gil_yield (the holder noticed at a safe point)\n"
  tour_tid thread ts
  tour_bits eval_breaker ts->eval_breaker
  tour_frames frames ts
  tour_int from_eval_loop $_any_caller_is("handle_eval_breaker",3)
  disable 2
  enable 3
  tour_next
end

# 3. It drops the GIL, forced: it will wait until another thread took it.
break drop_classic
commands 3
  silent
  printf "TOUR-STOP 3: drop_classic (forced)\n"
  tour_tid thread ts
  tour_int forced forced
  tour_gil gil
  disable 3
  enable 4
  tour_next
end

# 4. The waiter wakes in take_classic and takes the GIL (then clears any
#    request aimed at itself: it is stale).
break gv_eb_clear if bits == 1 && $_caller_is("take_classic")
commands 4
  silent
  printf "TOUR-STOP 4: take_classic (the waiter took the GIL)\n"
  tour_tid thread ts
  up-silently
  tour_gil gil
  tour_int gil.switch_number gil->switch_number
  tour_frames frames ts
  disable 4
  tour_next
end

disable 2 3 4
run
tour_end
