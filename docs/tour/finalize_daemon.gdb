# Tour: finalization with a daemon thread still running
# (docs/tour/finalize_daemon.md). From the source root:
#   gdb -batch -nx -x docs/tour/finalize_daemon.gdb --args build-debug/gilvm run --schedule=1 docs/tour/finalize_daemon.gva
# --schedule=1: one thread at a time, drawn by seed 1, so the daemon is
# always in the same place when main ends. Each stop enables the next one.
source docs/tour/common.gdb

# 1. main has returned: gilvm calls Gv_Finalize on the main thread.
break Gv_Finalize
commands 1
  silent
  printf "TOUR-STOP 1: Gv_Finalize (main returned)\n"
  tour_tid thread gv_tstate_get()
  tour_int threads_running gv_tstate_get()->interp->threads_running
  tour_int nondaemon_running gv_tstate_get()->interp->nondaemon_running
  disable 1
  enable 2
  tour_next
end

# 2. The exit wait: only non-daemon threads are waited for. None is left,
#    so the wait is ready at once.
break gv_threads_wait_nondaemon
commands 2
  silent
  printf "TOUR-STOP 2: gv_threads_wait_nondaemon (no non-daemon thread left)\n"
  tour_int nondaemon_running ts->interp->nondaemon_running
  disable 2
  enable 3
  tour_next
end

# 3. Shutdown: from here on no other thread may run VM code.
break gv_threads_shutdown
commands 3
  silent
  printf "TOUR-STOP 3: gv_threads_shutdown (finalizing starts)\n"
  tour_tid finalizer ts
  tour_int threads_running ts->interp->threads_running
  disable 3
  enable 4
  tour_next
end

# 4. Every thread that waits (parked, or for the GIL) is woken to see it.
break gv_wake_for_exit
commands 4
  silent
  printf "TOUR-STOP 4: gv_wake_for_exit (wake everyone to refuse them)\n"
  tour_tid finalizer finalizer
  tour_int finalizing gv_runtime_finalizing()
  disable 4
  enable 5
  tour_next
end

# 5. The daemon, waiting for its next turn with the GIL inside its loop,
#    wakes, finds it may not run (its slice ended in the eval loop, and
#    gv_gil_yield -> gv_gil_take returned -1) and abandons
#    itself: its OS thread ends, its thread state stays for the finalizer.
break gv_tstate_abandon
commands 5
  silent
  printf "TOUR-STOP 5: gv_tstate_abandon (the daemon is refused the GIL)\n"
  tour_tid thread ts
  tour_int holds_gil ts->holds_gil
  tour_frames frames ts
  tour_int from_eval_loop $_caller_is("run")
  disable 5
  enable 6
  tour_next
end

# 6. Back on main: threads_running reached 0; the finalizer tears down the
#    abandoned thread state and its frames.
break gv_tstate_delete if ts->status == GV_TS_ABANDONED
commands 6
  silent
  printf "TOUR-STOP 6: gv_tstate_delete (the finalizer frees the daemon's state)\n"
  tour_tid thread gv_tstate_get()
  tour_tid deleting ts
  tour_int threads_running ts->interp->threads_running
  tour_frames frames ts
  disable 6
  tour_next
end

disable 2 3 4 5 6
run
tour_end
