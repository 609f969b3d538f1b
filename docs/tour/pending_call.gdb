# Tour: a pending call run by a chosen thread (docs/tour/pending_call.md).
# Runs one case of the unit test test_pending. From the source root:
#   gdb -batch -nx -x docs/tour/pending_call.gdb --args build-debug/tests/test_pending test_pending_to_thread_runs_on_that_thread
# Each stop enables the next one, so the places come in the page's order.
source docs/tour/common.gdb

# 1. The test (main, thread 1) queues a call for thread A, parked in
#    queue_get: Gv_AddPendingCallToThread -> gv_pending_add.
break gv_pending_add
commands 1
  silent
  printf "TOUR-STOP 1: gv_pending_add (main queues a call for thread A)\n"
  tour_tid caller gv_tstate_get()
  tour_int target target
  disable 1
  enable 2
  tour_next
end

# 2. The call is in A's own ring; A is woken to handle PENDING_CALLS.
break gv_thread_interrupt_locked
commands 2
  silent
  printf "TOUR-STOP 2: gv_thread_interrupt_locked (A is woken)\n"
  tour_tid target ts
  tour_int target.pending_count ts->pending_count
  tour_int target.parked ts->parked
  tour_bits bits bits
  disable 2
  enable 3
  tour_next
end

# 3. A, back in its gv_wait with the GIL, runs what is queued for it
#    (main's own checks, meanwhile, found nothing queued for main).
break gv_pending_run if ts->pending_count > 0
commands 3
  silent
  printf "TOUR-STOP 3: gv_pending_run (A runs its calls)\n"
  tour_tid thread ts
  # Only this bit: a GIL drop request may be set too, depending on timing.
  tour_bits eval_breaker&PENDING_CALLS ts->eval_breaker&0x2
  tour_int pending_count ts->pending_count
  tour_frames frames ts
  tour_int from_gv_wait $_any_caller_is("gv_wait",3)
  disable 3
  enable 4
  tour_next
end

# 4. The call itself, on A, holding the GIL.
break put_from_pending
commands 4
  silent
  printf "TOUR-STOP 4: put_from_pending (the test's call, running on A)\n"
  tour_tid thread gv_tstate_get()
  tour_int holds_gil gv_tstate_get()->holds_gil
  tour_int from_gv_pending_run $_caller_is("gv_pending_run")
  disable 4
  tour_next
end

disable 2 3 4
run
tour_end
