# Tour: the recursion limit and its headroom (docs/tour/recursion.md).
# Run from the source root:
#   gdb -batch -nx -x docs/tour/recursion.gdb --args build-debug/gilvm run docs/tour/recursion.gva
# Each stop enables the next one, so the places come in the page's order.
source docs/tour/common.gdb

# 1. CALL in the deepest down() asks for one frame too many: the check in
#    gv_frame_push (inlined into CALL) refuses it before anything is touched.
break gv_frame_push if ts->recursion_depth >= ts->recursion_limit
commands 1
  silent
  printf "TOUR-STOP 1: gv_frame_push refuses a frame (the limit is reached)\n"
  tour_func pushing fn->code
  tour_frames frames ts
  tour_int recursion_limit ts->recursion_limit
  tour_int recursion_headroom ts->recursion_headroom
  tour_int c_recursion_depth ts->c_recursion_depth
  disable 1
  enable 2
  tour_next
end

# 2. The RecursionError is made (no frame is needed for that).
break gv_frame_recursion_error
commands 2
  silent
  printf "TOUR-STOP 2: gv_frame_recursion_error\n"
  tour_frames frames gv_tstate_get()
  disable 2
  enable 3
  tour_next
end

# 3. The deepest frame catches it: its handler is entered.
break gv_excinfo_push
commands 3
  silent
  printf "TOUR-STOP 3: gv_excinfo_push (the deepest down() handles it)\n"
  tour_exc pushing exc
  tour_frames frames ts
  tour_excinfo exc_info ts
  disable 3
  enable 4
  tour_next
end

# 4. A call made inside that handler is refused again, at the same depth.
break gv_frame_push if ts->recursion_depth >= ts->recursion_limit
commands 4
  silent
  printf "TOUR-STOP 4: gv_frame_push refuses again (a call from the handler)\n"
  tour_frames frames ts
  tour_excinfo exc_info ts
  disable 4
  enable 5
  tour_next
end

# 5. ... and caught again, by the handler nested in the first one.
break gv_excinfo_push
commands 5
  silent
  printf "TOUR-STOP 5: gv_excinfo_push (the nested handler)\n"
  tour_exc pushing exc
  tour_exc pushing.context ((GvException*)exc)->context
  tour_excinfo exc_info ts
  disable 5
  enable 6
  tour_next
end

# 6. The deepest down() returns: the depth goes back under the limit.
break gv_frame_pop if ts->recursion_depth == ts->recursion_limit
commands 6
  silent
  printf "TOUR-STOP 6: gv_frame_pop (the deepest down() returns)\n"
  tour_frames frames ts
  tour_excinfo exc_info ts
  disable 6
  tour_next
end

disable 2 3 4 5 6
run
tour_end
