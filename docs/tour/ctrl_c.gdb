# Tour: Ctrl-C reaching a blocked main thread (docs/tour/ctrl_c.md).
# From the source root:
#   gdb -batch -nx -x docs/tour/ctrl_c.gdb --args build-debug/gilvm run docs/tour/ctrl_c.gva
# gdb itself sends the SIGINT, once main is asleep in its wait. Each stop
# enables the next one, so the places come in the page's order.
source docs/tour/common.gdb

# 1. main's queue_get found nothing: gv_wait parks it (it will release the
#    GIL and sleep on its own condition variable).
break park
commands 1
  silent
  printf "TOUR-STOP 1: park (main blocks in queue_get)\n"
  tour_tid thread ts
  tour_bits eval_breaker ts->eval_breaker
  tour_frames frames ts
  disable 1
  enable 2
  tour_next
end

# 2. main is about to sleep in pthread_cond_wait, parked, without the GIL:
#    now the Ctrl-C (gdb resumes main with SIGINT).
break pthread_cond_wait if $_thread == 1
commands 2
  silent
  printf "TOUR-STOP 2: pthread_cond_wait (main asleep; Ctrl-C now)\n"
  tour_int main.parked 'breaker.c'::sig.main->parked
  tour_int main.holds_gil 'breaker.c'::sig.main->holds_gil
  disable 2
  enable 3
  tour_sigint
end

# 3. The signal handler: only async-signal-safe work, a bit and a semaphore.
break on_sigint
commands 3
  silent
  printf "TOUR-STOP 3: on_sigint (the handler runs)\n"
  tour_tid main 'breaker.c'::sig.main
  tour_bits main.eval_breaker(before) 'breaker.c'::sig.main->eval_breaker
  disable 3
  enable 4
  tour_next
end

# 4. The watcher thread, woken by the semaphore, wakes main's wait (that
#    needs interp->mutex, which a signal handler may not take).
break gv_thread_interrupt if bits == 8
commands 4
  silent
  printf "TOUR-STOP 4: gv_thread_interrupt (the watcher wakes main)\n"
  tour_int from_watch $_caller_is("watch")
  tour_tid target ts
  tour_int target.parked ts->parked
  tour_bits target.eval_breaker ts->eval_breaker
  disable 4
  enable 5
  tour_next
end

# 5. main, awake and holding the GIL again, finds SIGNAL in its wait and
#    handles it: KeyboardInterrupt is raised out of queue_get.
break handle_signal
commands 5
  silent
  printf "TOUR-STOP 5: handle_signal (KeyboardInterrupt in main)\n"
  tour_tid thread ts
  tour_bits eval_breaker ts->eval_breaker
  tour_int from_gv_wait $_any_caller_is("gv_wait",3)
  tour_frames frames ts
  disable 5
  enable 6
  tour_next
end

# 6. main's handler catches it.
break gv_excinfo_push
commands 6
  silent
  printf "TOUR-STOP 6: gv_excinfo_push (main's handler)\n"
  tour_exc pushing exc
  disable 6
  tour_next
end

disable 2 3 4 5 6
run
tour_end
