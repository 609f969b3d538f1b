# Tour: GvGILState_Ensure from a thread the VM never saw
# (docs/tour/gilstate_ensure.md). Runs one case of the unit test
# test_gilstate. From the source root:
#   gdb -batch -nx -x docs/tour/gilstate_ensure.gdb --args build-debug/tests/test_gilstate test_ensure_from_raw_thread_nests_three_deep
# Each stop enables the next one, so the places come in the page's order.
source docs/tour/common.gdb

# 1. A raw pthread, with no thread state, calls GvGILState_Ensure.
break GvGILState_Ensure
commands 1
  silent
  printf "TOUR-STOP 1: GvGILState_Ensure (outermost, from a raw pthread)\n"
  tour_tid bound gv_thread_bound(gv_runtime_interp())
  tour_tid current gv_tstate_get()
  disable 1
  enable 2
  tour_next
end

# 2. Nothing is bound to this OS thread: Ensure makes a thread state.
break gv_tstate_new if $_caller_is("GvGILState_Ensure")
commands 2
  silent
  printf "TOUR-STOP 2: gv_tstate_new (a thread state for the newcomer)\n"
  tour_int id_it_will_get runtime.next_thread_id
  tour_int threads_running interp->threads_running
  disable 2
  enable 3
  tour_next
end

# 3. Made, counted (finalization waits for it), bound to this OS thread:
#    now it takes the GIL as that thread state.
break gv_tstate_attach if $_any_caller_is("GvGILState_Ensure",2)
commands 3
  silent
  printf "TOUR-STOP 3: gv_tstate_attach (the newcomer takes the GIL)\n"
  tour_tid ts ts
  tour_tid bound gv_thread_bound(gv_runtime_interp())
  tour_int gilstate_auto ts->gilstate_auto
  tour_int gilstate_counter ts->gilstate_counter
  tour_int holds_gil ts->holds_gil
  tour_int threads_running ts->interp->threads_running
  disable 3
  enable 4
  tour_next
end

# 4. A nested Ensure on the same thread: it holds the GIL already, so only
#    the counter goes up (GvGILState_LOCKED).
break GvGILState_Ensure
commands 4
  silent
  printf "TOUR-STOP 4: GvGILState_Ensure (nested)\n"
  tour_tid bound gv_thread_bound(gv_runtime_interp())
  tour_int gilstate_counter gv_thread_bound(gv_runtime_interp())->gilstate_counter
  tour_int holds_gil gv_thread_bound(gv_runtime_interp())->holds_gil
  disable 4
  enable 5
  tour_next
end

# 5. The outermost Release (the counter is back at 1) ...
break GvGILState_Release if gv_thread_bound(gv_runtime_interp())->gilstate_counter == 1
commands 5
  silent
  printf "TOUR-STOP 5: GvGILState_Release (outermost)\n"
  tour_tid bound gv_thread_bound(gv_runtime_interp())
  tour_int gilstate_counter gv_thread_bound(gv_runtime_interp())->gilstate_counter
  tour_int state state
  disable 5
  enable 6
  tour_next
end

# 6. ... deletes the thread state Ensure made, and with it the GIL.
break gv_tstate_delete_current
commands 6
  silent
  printf "TOUR-STOP 6: gv_tstate_delete_current (the newcomer leaves)\n"
  tour_tid ts ts
  tour_int holds_gil ts->holds_gil
  disable 6
  tour_next
end

disable 2 3 4 5 6
run
tour_end
