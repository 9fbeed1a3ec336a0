# weft's gdb extension: lists the schedulers' threads, the worker groups and
# every coroutine, and shows a parked coroutine's frames. Reads memory only, so
# it works on a live process and on a core file; needs weft's debug information
# (the library built with -g, the default RelWithDebInfo).
#
#   info weft-threads        every thread that runs a scheduler, every thread
#                            without one that has waited in a weft primitive, then
#                            every worker group (its workers' threads, its count)
#   info weft-coroutines     every coroutine: id, thread, state, wait reason, name,
#                            where it was spawned; a worker group's coroutines under
#                            their group, each with the worker it runs or last ran on
#   weft-bt ID               the return addresses on coroutine ID's stack
#
# Installed as share/gdb/auto-load/<libdir>/libweft.so.<version>-gdb.py; or
# load it by hand: (gdb) source /path/to/weft-gdb.py
import gdb

WHY = ["unknown", "lock", "rlock", "cond", "sem", "event", "barrier", "chan-send",
       "chan-recv", "chan-select", "queue-get", "queue-put", "fd", "sleep", "join",
       "future", "process", "pool-join", "pfutex", "switch", "waitgroup", "once",
       "queue-join", "killall", "plock", "psem", "pevent", "pcond", "pbarrier", "pqueue",
       "shm-ready", "other"]
STATE = {1: "ready", 2: "parked", 3: "suspended", 4: "done"}
F_SHARED, F_MAIN = 4, 8
LIST_MAX, CORO_MAX = 100000, 1 << 24  # bounds: a corrupt list must not loop for ever


def _chain(v, field, limit):
    """The nodes of a NULL-terminated list from v through `field`, at most `limit`."""
    n = 0
    while int(v) and n < limit:
        yield v
        v = v[field]
        n += 1


def _scheds():
    head = gdb.lookup_static_symbol("wd_list")
    if head is None:
        raise gdb.GdbError("weft: no scheduler list (libweft without debug info, or not loaded)")
    return _chain(head.value(), "wd_next", LIST_MAX)


def _coros(s):
    yield s["main"]
    for co in _chain(s["all"], "all_next", CORO_MAX):
        if int(co) != int(s["main"]):
            yield co


def _groups():
    """Every live worker group (weft_group_create's list, src/coro/group.c)."""
    head = gdb.lookup_static_symbol("groups")
    return _chain(head.value(), "reg_next", LIST_MAX) if head is not None else ()


def _group_coros(g):
    """(scheduler or None, coroutine) for each coroutine of group g: its lists are
    one per worker (what that worker spawned), then one for spawns from outside.
    The scheduler is the worker it runs on or last ran on; None before it starts."""
    for i in range(int(g["n"]) + 1):
        for co in _chain(g["lists"][i]["head"], "all_next", CORO_MAX):
            s = co["sched"]
            yield (s if int(s) and int(s["group"]) == int(g) else None), co


def _group_live(g):
    w = g["w"]
    n = int(g["n"])
    fin = sum(int(w[i]["finished"]) for i in range(n))
    sp = sum(int(w[i]["spawned"]) for i in range(n)) + int(g["outside"])
    return max(sp - fin, 0)


def _every_coro():
    """(scheduler or None, coroutine) for every coroutine: each thread's, then each
    group's."""
    for s in _scheds():
        for co in _coros(s):
            yield s, co
    for g in _groups():
        for s, co in _group_coros(g):
            yield s, co


def _name(co):
    p = int(co["name"])
    if not p:
        return ""
    try:
        b = bytes(gdb.selected_inferior().read_memory(p, 64))
    except gdb.MemoryError:
        return "?"
    return '"%s"' % b.split(b"\0")[0].decode(errors="replace")


def _reason(co):
    why = int(co["why"])
    r = WHY[why] if why < len(WHY) else "other"
    arg = int(co["why_arg"])
    obj = int(co["why_obj"].cast(gdb.lookup_type("unsigned long")))
    if r == "fd":
        return "fd %d" % (arg >> 16)
    if r in ("join", "switch") and obj:
        t = co["why_obj"].cast(gdb.lookup_type("weft__coro").pointer())
        return "%s coroutine %d" % (r, int(t["id"]))
    if r == "sleep":
        return "sleep until %d ns" % arg
    if r in ("unknown", "other", "killall"):
        return r
    return "%s 0x%x" % (r, obj)


def _where(pc):
    """function (file:line) of a code address, or its hex."""
    if not pc:
        return ""
    fn = gdb.block_for_pc(pc)
    while fn is not None and fn.function is None:
        fn = fn.superblock
    sal = gdb.find_pc_line(pc)
    name = fn.function.name if fn is not None else None
    if name is None:
        m = gdb.execute("info symbol 0x%x" % pc, to_string=True).strip()
        name = m.split(" in section")[0] if not m.startswith("No symbol") else "0x%x" % pc
    if sal.symtab:
        return "%s (%s:%d)" % (name, sal.symtab.filename.split("/")[-1], sal.line)
    return name


def _spawned(co):
    pc = int(co["spawn_pc"].cast(gdb.lookup_type("unsigned long")))
    return "  spawned at " + _where(pc - 1) if pc else ""


def _state(s, co):
    if s is None:
        return "not started yet"
    st = STATE.get(int(co["state"]), "?")
    if int(co) == int(s["current"]):
        if not int(s["polling"]):
            return "running"
        if st == "ready":  # its thread sleeps in the poller on its stack, not parked
            return "waiting for events"
    if st == "parked":
        return "parked on " + _reason(co)
    return st


class InfoThreads(gdb.Command):
    """info weft-threads: every thread that runs a weft scheduler."""

    def __init__(self):
        super().__init__("info weft-threads", gdb.COMMAND_STATUS)

    def invoke(self, arg, from_tty):
        for s in _scheds():
            cur = s["current"]
            print("thread %d: current coroutine %d, %d live coroutines, scheduler 0x%x" % (
                int(s["wd_tid"]), int(cur["id"]) if int(cur) else 0, int(s["live"]), int(s)))
        head = gdb.lookup_static_symbol("tw_list")
        for t in _chain(head.value(), "next", LIST_MAX) if head is not None else ():
            name = bytes(gdb.selected_inferior().read_memory(t["name"].address, 16))
            name = name.split(b"\0")[0].decode(errors="replace")
            if int(t["since"]):
                what = "parked on " + _reason(t)
            else:
                what = "not in a weft wait"
            print("thread %d \"%s\" (no coroutines): %s" % (int(t["tid"]), name, what))
        for g in _groups():
            w = g["w"]
            tids = " ".join(str(int(w[i]["s"]["wd_tid"])) if int(w[i]["s"]) else "0"
                            for i in range(int(g["n"])))
            print("worker group 0x%x: %d workers (threads %s), %d live coroutines" % (
                int(g), int(g["n"]), tids, _group_live(g)))


class InfoCoros(gdb.Command):
    """info weft-coroutines: every coroutine of every scheduler."""

    def __init__(self):
        super().__init__("info weft-coroutines", gdb.COMMAND_STATUS)

    def invoke(self, arg, from_tty):
        print("%-8s %-8s %-7s %-40s %s" % ("ID", "THREAD", "STACK", "STATE", "NAME"))
        for s in _scheds():
            for co in _coros(s):
                print(_coro_line(s, co))
        for g in _groups():
            print("worker group 0x%x (%d workers):" % (int(g), int(g["n"])))
            for s, co in _group_coros(g):
                print(_coro_line(s, co))


def _coro_line(s, co):
    fl = int(co["flags"])
    stack = "main" if fl & F_MAIN else ("shared" if fl & F_SHARED else "guarded")
    tid = int(s["wd_tid"]) if s is not None else 0
    return "%-8d %-8d %-7s %-40s %s%s" % (int(co["id"]), tid, stack, _state(s, co), _name(co),
                                          _spawned(co))


def _is_return(pc):
    try:
        blk = gdb.block_for_pc(pc)
    except RuntimeError:
        blk = None
    if blk is None and gdb.current_progspace().solib_name(pc) is None:
        # not in any known code
        if gdb.find_pc_line(pc).symtab is None:
            return False
    inf = gdb.selected_inferior()
    try:
        b = bytes(inf.read_memory(pc - 7, 7))
    except gdb.MemoryError:
        return False
    if b[2] == 0xE8:  # call rel32 ends at pc
        return True
    for k in range(2, 8):  # FF /2: call through a register or memory
        if b[7 - k] == 0xFF and (b[7 - k + 1] & 0x38) == 0x10:
            return True
    return False


class CoroBt(gdb.Command):
    """weft-bt ID: return addresses on parked coroutine ID's stack, innermost first."""

    def __init__(self):
        super().__init__("weft-bt", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        want = int(gdb.parse_and_eval(arg))
        for s, co in _every_coro():
            if int(co["id"]) == want:
                if s is None:
                    print("coroutine %d has not started yet: no frames" % want)
                    return
                return self._bt(s, co)
        raise gdb.GdbError("weft-bt: no coroutine %d" % want)

    def _bt(self, s, co):
        if int(co) == int(s["current"]) and not int(s["polling"]):
            print("coroutine %d is its thread's current one: use `thread` and `bt`" % int(co["id"]))
            return
        sp = int(co["ctx"]["sp"])
        fl = int(co["flags"])
        inf = gdb.selected_inferior()
        if fl & F_MAIN:
            hi = int(s["main_lo"]) + int(s["main_size"]) if int(s["main_lo"]) else sp + 65536
            src = sp
        elif fl & F_SHARED:
            hi = int(s["shared_hi"])
            src = sp
            if int(s["shared_owner"]) != int(co):
                n = int(co["saved_len"])
                print("(SHARED stack, copied aside: %d bytes at 0x%x)" % (n, int(co["saved"])))
                src, hi = int(co["saved"]), int(co["saved"]) + n
                sp = src
        else:
            hi = int(co["stack"]) + int(co["stack_size"])
            src = sp
        k = 0
        addr = src
        ulong = gdb.lookup_type("unsigned long").sizeof
        while addr + ulong <= hi and k < 32:
            try:
                v = int.from_bytes(bytes(inf.read_memory(addr, ulong)), "little")
            except gdb.MemoryError:
                break
            addr += ulong
            if v > 4096 and _is_return(v):
                sym = gdb.find_pc_line(v)
                fn = gdb.block_for_pc(v)
                while fn is not None and fn.function is None:
                    fn = fn.superblock
                fname = fn.function.name if fn is not None else "??"
                where = " at %s:%d" % (sym.symtab.filename, sym.line) if sym.symtab else ""
                print("#%-2d 0x%016x in %s%s" % (k, v, fname, where))
                k += 1


InfoThreads()
InfoCoros()
CoroBt()
