# Tour: a frame pushed and popped, and the exception-info stack during a
# handler (docs/tour/frames.md). Run from the source root:
#   gdb -batch -nx -x docs/tour/frames.gdb --args build-debug/gilvm run docs/tour/frames.gva
# Each stop enables the next one, so the places come in the page's order.
source docs/tour/common.gdb

# 1. CALL pushes fails()'s frame (gv_frame_push is inlined into CALL).
break gv_frame_push if $_streq((char *)((GvStr *)fn->code->name)->data, "fails")
commands 1
  silent
  printf "TOUR-STOP 1: gv_frame_push (CALL in outer pushes fails)\n"
  tour_func pushing fn->code
  tour_frames frames ts
  tour_int argc argc
  disable 1
  enable 2
  tour_next
end

# 2. The KeyError unwinds: fails() has no handler, its frame is popped.
break gv_frame_pop if $_streq((char *)((GvStr *)f->code->name)->data, "fails")
commands 2
  silent
  printf "TOUR-STOP 2: gv_frame_pop (the KeyError unwinds out of fails)\n"
  tour_frames frames ts
  tour_exc current_exception ts->current_exception
  tour_excinfo exc_info ts
  disable 2
  enable 3
  tour_next
end

# 3. outer's handler is found: the exception becomes the one being handled.
break gv_excinfo_push
commands 3
  silent
  printf "TOUR-STOP 3: gv_excinfo_push (outer's handler entered)\n"
  tour_exc pushing exc
  tour_frames frames ts
  tour_excinfo exc_info ts
  disable 3
  enable 4
  tour_next
end

# 4. report(), called from that handler, handles a ValueError of its own.
break gv_excinfo_push
commands 4
  silent
  printf "TOUR-STOP 4: gv_excinfo_push (report's handler entered)\n"
  tour_exc pushing exc
  tour_exc pushing.context ((GvException*)exc)->context
  tour_frames frames ts
  tour_excinfo exc_info ts
  disable 4
  enable 5
  tour_next
end

# 5. report's POP_EXCEPT: back to the outer exception.
break gv_excinfo_pop
commands 5
  silent
  printf "TOUR-STOP 5: gv_excinfo_pop (POP_EXCEPT in report)\n"
  tour_frames frames ts
  tour_excinfo exc_info ts
  disable 5
  enable 6
  tour_next
end

# 6. outer's POP_EXCEPT: nothing is being handled any more.
break gv_excinfo_pop
commands 6
  silent
  printf "TOUR-STOP 6: gv_excinfo_pop (POP_EXCEPT in outer)\n"
  tour_frames frames ts
  tour_excinfo exc_info ts
  disable 6
  enable 7
  tour_next
end

# 7. outer returns: RETURN_VALUE pops its frame, main is current again.
break gv_frame_pop if $_streq((char *)((GvStr *)f->code->name)->data, "outer")
commands 7
  silent
  printf "TOUR-STOP 7: gv_frame_pop (RETURN_VALUE in outer)\n"
  tour_frames frames ts
  tour_func caller_after_pop f->prev->code
  tour_excinfo exc_info ts
  disable 7
  tour_next
end

disable 2 3 4 5 6 7
run
tour_end
