# Shared by every tour (docs/tour/README.md): gdb settings and the commands
# that print the fields a tour looks at, one `TOUR-FIELD name = value` line
# each, so that tests/tour/check_tours.py can compare them with the page.
#
# Stepping yourself: give `-ex 'set $tour_step = 1'` before `-x` and drop
# `-batch`; every stop then waits at gdb's prompt (type `continue`).

set pagination off
set confirm off
set print thread-events off
set print inferior-events off
# gdb would take the program's own SIGINT as your Ctrl-C.
handle SIGINT nostop noprint pass

if $_isvoid($tour_step)
  set $tour_step = 0
end

# The last command of every stop: go on, unless you step by hand.
define tour_next
  if $tour_step == 0
    continue
  end
end

# tour_bits NAME WORD: the eval-breaker bits set in WORD, by name.
define tour_bits
  set $tb = (unsigned int)($arg1)
  printf "TOUR-FIELD %s = ", "$arg0"
  if $tb == 0
    printf "0"
  end
  set $tsep = ""
  if $tb & 0x1
    printf "%sGIL_DROP_REQUEST", $tsep
    set $tsep = "|"
  end
  if $tb & 0x2
    printf "%sPENDING_CALLS", $tsep
    set $tsep = "|"
  end
  if $tb & 0x4
    printf "%sASYNC_EXC", $tsep
    set $tsep = "|"
  end
  if $tb & 0x8
    printf "%sSIGNAL", $tsep
    set $tsep = "|"
  end
  if $tb & 0x10
    printf "%sTRACING", $tsep
    set $tsep = "|"
  end
  if $tb & 0x20
    printf "%sBUDGET", $tsep
    set $tsep = "|"
  end
  printf "\n"
end
document tour_bits
tour_bits NAME WORD: print the GV_EB_* bits set in WORD (runtime/breaker.h).
end

# tour_int NAME EXPR
define tour_int
  printf "TOUR-FIELD %s = %lld\n", "$arg0", (long long)($arg1)
end

# tour_tid NAME TS: a thread state's VM id (thread_id()), or none.
define tour_tid
  if (GvThreadState *)($arg1) == 0
    printf "TOUR-FIELD %s = none\n", "$arg0"
  else
    printf "TOUR-FIELD %s = %lu\n", "$arg0", ((GvThreadState *)($arg1))->id
  end
end

# tour_exc NAME OBJ: an exception object's type name (or an exception
# type's own name), or none.
define tour_exc
  set $te = (GvObject *)($arg1)
  if $te == 0
    printf "TOUR-FIELD %s = none\n", "$arg0"
  else
    if $te->kind == GV_KTYPE
      printf "TOUR-FIELD %s = %s (the type)\n", "$arg0", ((GvType *)$te)->name
    else
      printf "TOUR-FIELD %s = %s\n", "$arg0", ((GvException *)$te)->type->name
    end
  end
end

# tour_excinfo NAME TS: the exceptions TS is handling, innermost first.
define tour_excinfo
  set $ti = ((GvThreadState *)($arg1))->exc_info
  printf "TOUR-FIELD %s = [", "$arg0"
  set $tsep = ""
  while $ti != 0
    printf "%s%s", $tsep, ((GvException *)$ti->exc_value)->type->name
    set $tsep = ", "
    set $ti = $ti->previous
  end
  printf "] (exc_depth %u)\n", ((GvThreadState *)($arg1))->exc_depth
end

# tour_frames NAME TS: TS's frames, innermost first, from current_frame.
define tour_frames
  set $tf = ((GvThreadState *)($arg1))->current_frame
  printf "TOUR-FIELD %s = [", "$arg0"
  set $tsep = ""
  while $tf != 0
    printf "%s%s", $tsep, ((GvStr *)$tf->code->name)->data
    set $tsep = ", "
    set $tf = $tf->prev
  end
  printf "] (recursion_depth %d)\n", ((GvThreadState *)($arg1))->recursion_depth
end

# tour_func NAME CODE: a code object's function name.
define tour_func
  printf "TOUR-FIELD %s = %s\n", "$arg0", ((GvStr *)((GvCode *)($arg1))->name)->data
end

# tour_gilq NAME HEAD: the ids of a GIL wait queue (handoff modes), from
# its head along gil_next.
define tour_gilq
  set $tq = (GvThreadState *)($arg1)
  printf "TOUR-FIELD %s = [", "$arg0"
  set $tsep = ""
  while $tq != 0
    printf "%s%lu", $tsep, $tq->id
    set $tsep = ", "
    set $tq = $tq->gil_next
  end
  printf "]\n"
end

# tour_gil GIL: who holds the GIL and who queues for it.
define tour_gil
  set $tg = (GvGIL *)($arg0)
  tour_int gil.locked $tg->locked
  tour_tid gil.holder $tg->holder
  if $tg->mode != 0
    tour_gilq gil.prio_queue $tg->prio_head
    tour_gilq gil.norm_queue $tg->norm_head
  end
end

# tour_end: after `run`, the program's exit status.
define tour_end
  if !$_isvoid($_exitcode)
    printf "TOUR-END exit = %d\n", $_exitcode
  end
end

# tour_sigint: resume the stopped thread with SIGINT, as a Ctrl-C would
# deliver it (gdb passes it on: see `handle SIGINT` above). Stepping by
# hand, type `signal SIGINT` yourself.
define tour_sigint
  if $tour_step == 0
    signal SIGINT
  else
    printf "(type: signal SIGINT)\n"
  end
end
