# Tour: an asynchronous exception landing in a loop and in a blocked wait
# (docs/tour/async_exc.md). Run from the source root:
#   gdb -batch -nx -x docs/tour/async_exc.gdb --args build-debug/gilvm run --schedule=1 docs/tour/async_exc.gva
# Each stop enables the next one, so the places come in the page's order.
source docs/tour/common.gdb

# 1. main calls async_raise(spinner's id, ValueError).
break gv_set_async_exc
commands 1
  silent
  printf "TOUR-STOP 1: gv_set_async_exc (main aims ValueError at spinner)\n"
  tour_tid caller gv_tstate_get()
  tour_int target id
  tour_exc exc exc
  disable 1
  enable 2
  tour_next
end

# 2. spinner meets the ASYNC_EXC bit at its loop's backward jump.
break gv_raise_async_exc
commands 2
  silent
  printf "TOUR-STOP 2: gv_raise_async_exc (delivered in spinner's loop)\n"
  tour_tid thread ts
  tour_bits eval_breaker ts->eval_breaker
  tour_exc async_exc ts->async_exc
  tour_frames frames ts
  tour_int from_eval_loop $_any_caller_is("handle_eval_breaker",3)
  disable 2
  enable 3
  tour_next
end

# 3. It is an ordinary exception now: spinner's handler catches it.
break gv_excinfo_push
commands 3
  silent
  printf "TOUR-STOP 3: gv_excinfo_push (spinner's handler)\n"
  tour_tid thread ts
  tour_exc pushing exc
  disable 3
  enable 4
  tour_next
end

# 4. main aims KeyError at blocker, parked in queue_get.
break gv_set_async_exc
commands 4
  silent
  printf "TOUR-STOP 4: gv_set_async_exc (main aims KeyError at blocker)\n"
  tour_int target id
  tour_exc exc exc
  disable 4
  enable 5
  tour_next
end

# 5. Setting it also wakes the target's wait.
break gv_thread_interrupt_locked
commands 5
  silent
  printf "TOUR-STOP 5: gv_thread_interrupt_locked (the parked target is woken)\n"
  tour_tid target ts
  tour_int target.parked ts->parked
  tour_bits bits bits
  disable 5
  enable 6
  tour_next
end

# 6. blocker's gv_wait looks again, finds the interruption and handles it
#    with the GIL: the wait returns -1, nothing taken.
break gv_raise_async_exc
commands 6
  silent
  printf "TOUR-STOP 6: gv_raise_async_exc (delivered in blocker's wait)\n"
  tour_tid thread ts
  tour_exc async_exc ts->async_exc
  tour_frames frames ts
  tour_int from_gv_wait $_any_caller_is("gv_wait",3)
  disable 6
  enable 7
  tour_next
end

# 7. blocker's handler catches it (the type became an instance).
break gv_excinfo_push
commands 7
  silent
  printf "TOUR-STOP 7: gv_excinfo_push (blocker's handler)\n"
  tour_tid thread ts
  tour_exc pushing exc
  disable 7
  tour_next
end

disable 2 3 4 5 6 7
run
tour_end
